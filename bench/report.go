package main

import (
	"fmt"
	"os"
	"strings"
)

// table renders one case's results as Markdown rows (with a header).
func table(res []Result) string {
	var b strings.Builder
	b.WriteString("| case | tool | median s | min–max s | input GiB/s | time ÷ bigconv | peak RSS MiB | peak RssAnon MiB | peer s after imports |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range res {
		inner := ""
		if len(r.Inners) > 0 {
			m, _, _ := stats(r.Inners)
			inner = fmt.Sprintf("%.2f", m)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f–%.2f | %.2f | %.2f | %.0f | %.0f | %s |\n",
			r.Case, r.Tool, r.Median, r.Min, r.Max, r.InGiBps, r.VsBigconv, r.PeakRSS, r.PeakAnon, inner)
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

// ratio is other's median time over bigconv's (>1: bigconv is faster), or
// "–" when either is missing.
func ratio(rep *Report, c, tool string) (float64, string) {
	b, o := find(rep, c, "bigconv"), find(rep, c, tool)
	if b == nil || o == nil {
		return 0, "–"
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

// targets renders the targets against this run.
func targets(rep *Report) string {
	var b strings.Builder
	b.WriteString("| case | bigconv GiB/s | ÷ cp | ÷ cp+fsync | ÷ cp-out | ÷ cp-out+fsync | NumPy loop time ÷ bigconv | dask time ÷ bigconv | target | met |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	seen := map[string]bool{}
	maxRSS, maxAnon := 0.0, 0.0
	for _, r := range rep.Results {
		if r.Tool != "bigconv" || seen[r.Case] {
			continue
		}
		seen[r.Case] = true
		maxRSS, maxAnon = max(maxRSS, r.PeakRSS), max(maxAnon, r.PeakAnon)
		cp, cpS := ratio(rep, r.Case, "cp")
		cpf, cpfS := ratio(rep, r.Case, "cp+fsync")
		co, coS := ratio(rep, r.Case, "cp-out")
		cof, cofS := ratio(rep, r.Case, "cp-out+fsync")
		np, npS := ratio(rep, r.Case, "numpy")
		dk, dkS := ratio(rep, r.Case, "dask")
		target, met := "–", "–"
		switch r.Case {
		case "f32-f32", "tf-f32":
			target = "≥ 0.9× cp throughput"
			met = fmt.Sprintf("vs cp: %s; vs cp+fsync: %s", yesNo(cp >= 0.9), yesNo(cpf >= 0.9))
		case "i64-f32", "bf16-f32", "f32-f16":
			target = "≥ 2× NumPy loop and ahead of dask, or ≥ 0.9× cp-out"
			if co == 0 {
				co, cof = cp, cpf
			}
			met = fmt.Sprintf("2× NumPy: %s; ahead of dask: %s; ≥0.9× cp-out: %s; ≥0.9× cp-out+fsync: %s",
				yesNo(np >= 2), yesNo(dk > 1), yesNo(co >= 0.9), yesNo(cof >= 0.9))
		case "f32-f16-mask":
			// Specials in every row must not cost more than plain data
			// (issue 17).
			target = "within 5 % of f32-f16's time and ≥ 0.95× cp-out+fsync"
			plain := median(rep, "f32-f16", "bigconv")
			if plain == 0 {
				met = fmt.Sprintf("f32-f16 not in this run; ≥0.95× cp-out+fsync: %s", yesNo(cof >= 0.95))
				break
			}
			met = fmt.Sprintf("time ÷ f32-f16's %.2f: %s; ≥0.95× cp-out+fsync: %s",
				r.Median/plain, yesNo(r.Median <= 1.05*plain), yesNo(cof >= 0.95))
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Case, r.InGiBps, cpS, cpfS, coS, cofS, npS, dkS, target, met)
	}
	fmt.Fprintf(&b, "\nbigconv peak RSS over all cases: %.0f MiB (target < 96 MiB: %s); peak RssAnon: %.0f MiB.\n",
		maxRSS, yesNo(maxRSS < 96), maxAnon)
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
	b.WriteString("Targets (ratios are other tool's median time ÷ bigconv's: above 1 means bigconv is faster):\n\n")
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
