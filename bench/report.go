package main

import (
	"fmt"
	"os"
	"strings"
)

// table renders one case's results as Markdown rows (with a header).
// "÷ limit" is the case's limit time (cp-out+fsync: a durable copy of an
// output-sized file) over the row's time: the row's speed as a fraction
// of the limit's (1 = at the limit, above 1 = faster than it).
func table(res []Result) string {
	var limit *Result
	for i := range res {
		if res[i].Tool == limitTool {
			limit = &res[i]
		}
	}
	var b strings.Builder
	b.WriteString("| case | tool | median s | min–max s | input GiB/s | time ÷ bigconv | ÷ limit | peak RSS MiB | peak RssAnon MiB | peer s after imports |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range res {
		if r.Failed != "" {
			fmt.Fprintf(&b, "| %s | %s | failed: %s | – | – | – | – | %.0f | %.0f | |\n", r.Case, r.Tool, r.Failed, r.PeakRSS, r.PeakAnon)
			continue
		}
		inner := ""
		if len(r.Inners) > 0 {
			m, _, _ := stats(r.Inners)
			inner = fmt.Sprintf("%.2f", m)
		}
		lim := "–"
		if limit != nil {
			lim = fmt.Sprintf("%.2f", limit.Median/r.Median)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f–%.2f | %.2f | %.2f | %s | %.0f | %.0f | %s |\n",
			r.Case, r.Tool, r.Median, r.Min, r.Max, r.InGiBps, r.VsBigconv, lim, r.PeakRSS, r.PeakAnon, inner)
	}
	return b.String()
}

// find returns the result of tool on case c, or nil.
func find(rep *Report, c, tool string) *Result {
	for i := range rep.Results {
		if rep.Results[i].Case == c && rep.Results[i].Tool == tool {
			return &rep.Results[i]
		}
	}
	return nil
}

// measured returns the result of tool on case c if it ran to the end,
// or nil (not in the run, or a peer that failed).
func measured(rep *Report, c, tool string) *Result {
	if r := find(rep, c, tool); r != nil && r.Failed == "" {
		return r
	}
	return nil
}

// ratio is other's median time over bigconv's (>1: bigconv is faster),
// "–" when either is missing, or "failed" when the other tool failed.
func ratio(rep *Report, c, tool string) (float64, string) {
	b, o := find(rep, c, "bigconv"), find(rep, c, tool)
	if b == nil || o == nil {
		return 0, "–"
	}
	if o.Failed != "" {
		return 0, "failed"
	}
	v := o.Median / b.Median
	return v, fmt.Sprintf("%.2f", v)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// median is the median time of tool on case in rep, or 0.
func median(rep *Report, c, tool string) float64 {
	for _, r := range rep.Results {
		if r.Case == c && r.Tool == tool {
			return r.Median
		}
	}
	return 0
}

// maxRSS is issue 14's memory target: peak RSS in every case.
const maxRSS = 64

// targets renders issue 14's targets against this run: every case at
// ≥ 0.95× its limit (a durable copy of an output-sized file; Fortran →
// C at ≥ 0.9×) and ≥ 2× the NumPy chunked loop where there is one.
func targets(rep *Report) string {
	var b strings.Builder
	b.WriteString("| case | bigconv GiB/s | ÷ limit (cp-out+fsync) | ÷ cp-out | ÷ cp+fsync | ÷ cp | NumPy loop time ÷ bigconv | dask time ÷ bigconv | target | met |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	seen := map[string]bool{}
	peakRSS, peakAnon := 0.0, 0.0
	for _, r := range rep.Results {
		if r.Tool != "bigconv" || seen[r.Case] {
			continue
		}
		seen[r.Case] = true
		peakRSS, peakAnon = max(peakRSS, r.PeakRSS), max(peakAnon, r.PeakAnon)
		lim, limS := ratio(rep, r.Case, limitTool)
		_, coS := ratio(rep, r.Case, "cp-out")
		_, cpfS := ratio(rep, r.Case, "cp+fsync")
		_, cpS := ratio(rep, r.Case, "cp")
		np, npS := ratio(rep, r.Case, "numpy")
		_, dkS := ratio(rep, r.Case, "dask")
		want := 0.95
		if r.Case == "fortran-c" {
			want = 0.9
		}
		target := fmt.Sprintf("≥ %.2g× limit", want)
		met := fmt.Sprintf("limit: %s", yesNo(lim >= want))
		if limS == "–" {
			met = "limit: not in this run"
		}
		if npS != "–" {
			target += ", ≥ 2× NumPy loop"
			if npS == "failed" {
				met += fmt.Sprintf("; NumPy: peer failed (%s)", find(rep, r.Case, "numpy").Failed)
			} else {
				met += fmt.Sprintf("; NumPy: %s", yesNo(np >= 2))
			}
		}
		switch _, trS := ratio(rep, r.Case, "torch"); trS {
		case "–":
		case "failed":
			met += fmt.Sprintf("; torch peer: failed (%s)", find(rep, r.Case, "torch").Failed)
		default:
			met += "; torch peer time ÷ bigconv: " + trS
		}
		if r.Case == "f32-f16-mask" {
			// specials in every row must not cost more than plain data
			// (issue 17)
			target += ", within 5 % of f32-f16's time"
			if plain := median(rep, "f32-f16", "bigconv"); plain == 0 {
				met += "; f32-f16 not in this run"
			} else {
				met += fmt.Sprintf("; time ÷ f32-f16's %.2f: %s", r.Median/plain, yesNo(r.Median <= 1.05*plain))
			}
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Case, r.InGiBps, limS, coS, cpfS, cpS, npS, dkS, target, met)
	}
	fmt.Fprintf(&b, "\nbigconv peak RSS over all cases: %.0f MiB (target ≤ %d MiB: %s); peak RssAnon: %.0f MiB.\n",
		peakRSS, maxRSS, yesNo(peakRSS <= maxRSS), peakAnon)
	return b.String()
}

// section is the Markdown written into the doc for this run.
func section(rep *Report, sizeText string) string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "Command: `%s` — %s, %d run(s) per tool, %s input per case.\n\n", rep.Command, rep.Date[:10], rep.Runs, sizeText)
	fmt.Fprintf(&b, "Machine: %s CPU(s) %s, MemTotal %s, kernel %s; %s; bigconv %s",
		m["nproc"], m["cpu"], m["mem_total"], m["kernel"], rep.Versions["go"], rep.Versions["bigconv"])
	if v := rep.Versions["numpy"]; v != "" {
		fmt.Fprintf(&b, "; numpy %s", v)
	}
	if v := rep.Versions["dask"]; v != "" {
		fmt.Fprintf(&b, "; dask %s", v)
	}
	if v := rep.Versions["torch"]; v != "" {
		fmt.Fprintf(&b, "; torch %s", v)
	}
	b.WriteString(".\n\n")
	for _, s := range rep.Skipped {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	if len(rep.Skipped) > 0 {
		b.WriteString("\n")
	}
	var cur string
	var rows []Result
	flush := func() {
		if len(rows) > 0 {
			fmt.Fprintf(&b, "**%s** — %s\n\n%s\n", rows[0].Case, rows[0].Desc, table(rows))
		}
		rows = nil
	}
	for _, r := range rep.Results {
		if r.Case != cur {
			flush()
			cur = r.Case
		}
		rows = append(rows, r)
	}
	flush()
	b.WriteString("Targets (ratios are the other tool's median time ÷ bigconv's: above 1 means bigconv is faster; " +
		"the limit is cp then fsync of a file the size of bigconv's output):\n\n")
	b.WriteString(targets(rep))
	return b.String()
}

// replaceSection puts md between <!-- bench:NAME:begin --> and
// <!-- bench:NAME:end --> in doc, appending the markers if missing.
func replaceSection(doc, name, md string) error {
	b, err := os.ReadFile(doc)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(b)
	begin, end := "<!-- bench:"+name+":begin -->", "<!-- bench:"+name+":end -->"
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += "\n" + begin + "\n" + end + "\n"
		i, j = strings.Index(s, begin), strings.Index(s, end)
	}
	s = s[:i+len(begin)] + "\n" + md + s[j:]
	return os.WriteFile(doc, []byte(s), 0o644)
}
