package main

import (
	"os"
	"strconv"
	"strings"
)

// toolInputs is what tool reads in case c: the output-sized file for
// cp-out and its limit, cp-out+fsync; every input file of the case for
// the others (bigconv, its variants, the peers, cat, cp).
func toolInputs(tool string, c *caseDef) []string {
	if strings.HasPrefix(tool, "cp-out") {
		return []string{c.OutSized}
	}
	if len(c.Files) > 0 {
		return c.Files
	}
	return []string{c.Input}
}

// warmFits reports whether files, together, take at most three quarters
// of memTotal bytes: then they are read into the page cache before each
// run that reads them. Larger inputs (32 GiB on a 24 GiB machine) are
// read from disk by every tool alike, and reading them first would only
// push out what else is cached.
func warmFits(files []string, memTotal int64) (bool, error) {
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return false, err
		}
		n += st.Size()
	}
	return n*4 <= memTotal*3, nil
}

// warm reads the files tool reads into the page cache (cat > /dev/null,
// untimed) if they fit it. Every run starts from its own inputs cached:
// at 8 GiB the case's input and a 16 GiB output-sized file do not both
// fit a 24 GiB machine's cache, and a cp-out round would otherwise leave
// the next tool reading its input from disk.
func warm(tool string, c *caseDef, memTotal int64) error {
	files := toolInputs(tool, c)
	ok, err := warmFits(files, memTotal)
	if err != nil || !ok {
		return err
	}
	_, _, err = runCmd(append([]string{"cat"}, files...), false)
	return err
}

// memTotal is the machine's memory in bytes (/proc/meminfo), or 0.
func memTotal() int64 {
	v := machineInfo()["mem_total"] // "24683548 kB"
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}
