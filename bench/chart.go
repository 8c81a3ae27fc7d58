package main

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chartTools are the bars drawn per case.
var chartTools = []string{"bigconv", "numpy", "dask", "torch", "cp", "cp+fsync"}

// (cat > /dev/null is in the table; at 5–8 GiB/s it would flatten the chart.)

// chart draws input GiB/s (median) per case and tool as grouped bars.
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
	w := vg.Points(11)
	var drawn []string
	for _, tool := range chartTools {
		any := false
		for _, c := range names {
			if find(rep, c, tool) != nil {
				any = true
			}
		}
		if any {
			drawn = append(drawn, tool)
		}
	}
	for i, tool := range drawn {
		vals := make(plotter.Values, len(names))
		for j, c := range names {
			if r := find(rep, c, tool); r != nil {
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
		p.Legend.Add(tool, bars)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(40)
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.7, float64(len(names))-0.3
	return p.Save(10*vg.Inch, 4.5*vg.Inch, path)
}
