package main

import (
	"fmt"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chartTools are the bars drawn per case.
var chartTools = []string{"bigconv", "numpy", "dask", "torch", "cp", "cp+fsync", limitTool}

// chartLabel names a tool in the legend.
var chartLabel = map[string]string{limitTool: "limit (out-sized cp+fsync)"}

// (cat > /dev/null is in the table; at 5–8 GiB/s it would flatten the chart.)

// legendWidth is the strip right of the plot that holds the legend, so
// that it never covers a bar.
const legendWidth = 2.5 * vg.Inch

// barWidth is the width of one bar.
const barWidth = vg.Length(6)

// chart draws input GiB/s (median) per case and tool as grouped bars,
// with the legend beside the plot.
func chart(rep *Report, path string) error {
	var names []string
	for _, r := range rep.Results {
		if len(names) == 0 || names[len(names)-1] != r.Case {
			names = append(names, r.Case)
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("bigconv convert vs peers, %.3g GiB input per case, warm cache (median of %d)",
		float64(rep.Size)/(1<<30), rep.Runs)
	p.Y.Label.Text = "input GiB/s (higher is better)"
	p.Y.Min = 0
	w := barWidth
	var drawn []string
	for _, tool := range chartTools {
		any := false
		for _, c := range names {
			if measured(rep, c, tool) != nil {
				any = true
			}
		}
		if any {
			drawn = append(drawn, tool)
		}
	}
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	for i, tool := range drawn {
		vals := make(plotter.Values, len(names))
		for j, c := range names {
			if r := measured(rep, c, tool); r != nil {
				vals[j] = r.InGiBps
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = w * vg.Length(float64(i)-float64(len(drawn)-1)/2)
		p.Add(bars)
		label := tool
		if l, ok := chartLabel[tool]; ok {
			label = l
		}
		legend.Add(label, bars)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(names))-0.4
	p.X.Tick.Label.Rotation = math.Pi / 6 // case names are wider than their groups
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YTop

	// Each case's group of bars takes at most 3/4 of its slot, so that
	// groups never overlap however many cases and tools a run has.
	plotWidth := max(9.5*vg.Inch, vg.Length(len(names)*len(drawn))*w*4/3+vg.Inch)
	width, height := plotWidth+legendWidth, 4.5*vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, width-legendWidth+vg.Points(12), 0, 0, -vg.Points(30)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
