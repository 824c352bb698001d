package main

import (
	"fmt"
	"strings"
)

// markdownLines calls fn for every line of a markdown file outside fenced code
// blocks, with its 1-based number.
func markdownLines(text string, fn func(n int, line string)) {
	fence := ""
	for i, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(t, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = t[:3]
			continue
		}
		fn(i+1, line)
	}
}

// checkTables finds markdown tables with a row whose cell count differs from the
// header's: such a row renders with cells shifted or dropped, which is how a table of
// figures ends up with numbers under the wrong heading.
func (r *repo) checkTables() []finding {
	var out []finding
	for _, name := range r.files {
		if !strings.HasSuffix(name, ".md") || hasComponent(name, "testdata") {
			continue // fixtures may be malformed on purpose
		}
		b, err := r.read(name)
		if err != nil {
			out = append(out, finding{name, 0, err.Error()})
			continue
		}
		out = append(out, tableFindings(name, string(b))...)
	}
	return out
}

func tableFindings(name, text string) []finding {
	var out []finding
	header, headerLine := -1, 0 // cells of the current table's header; -1 outside a table
	var prev string
	prevLine := 0
	markdownLines(text, func(n int, line string) {
		t := strings.TrimSpace(line)
		switch {
		case header >= 0 && strings.HasPrefix(t, "|"):
			if c := len(tableCells(t)); c != header {
				out = append(out, finding{name, n, fmt.Sprintf("table row has %d cells, its header (line %d) has %d", c, headerLine, header)})
			}
		case isDelimiterRow(t) && strings.HasPrefix(strings.TrimSpace(prev), "|") && prevLine == n-1:
			header, headerLine = len(tableCells(strings.TrimSpace(prev))), prevLine
			if c := len(tableCells(t)); c != header {
				out = append(out, finding{name, n, fmt.Sprintf("delimiter row has %d cells, the header has %d", c, header)})
			}
		default:
			header = -1
		}
		prev, prevLine = line, n
	})
	return out
}

// isDelimiterRow matches a table's second line: |---|:--:|---:|.
func isDelimiterRow(t string) bool {
	if !strings.HasPrefix(t, "|") || !strings.Contains(t, "-") {
		return false
	}
	return strings.Trim(t, "|-: \t") == ""
}

// tableCells splits a table row as GitHub does: on every pipe not escaped with a
// backslash (inside code spans too), the outer pipes being optional.
func tableCells(row string) []string {
	row = strings.TrimPrefix(row, "|")
	if strings.HasSuffix(row, "|") && !strings.HasSuffix(row, `\|`) {
		row = row[:len(row)-1]
	}
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}
