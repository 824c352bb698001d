package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

var serverColors = map[string]string{"srvbridge": "#2b6cb0", "srvbridge-poller": "#90cdf4", "consul": "#c05621", "knot": "#2f855a"}

// svgNames are the servers' names on the chart, where a long title does not fit.
var svgNames = map[string]string{"srvbridge-poller": "… poller reader"}

func svgName(server string) string {
	if n, ok := svgNames[server]; ok {
		return n
	}
	return serverTitles[server]
}

// svg draws the table's two headline columns as horizontal bar charts: server CPU per
// answered query and queries per second, one bar per server.
func (rep *report) svg() string {
	const (
		width   = 760
		left    = 120 // room for server names
		right   = 250 // room for value labels
		barH    = 26
		barGap  = 10
		panelGp = 34
		top     = 56
	)
	rows := rep.ordered()
	panels := []struct {
		title string
		value func(*row) float64
		label func(*row) string
	}{
		{"server CPU per answered query (µs, lower is better)",
			func(w *row) float64 { return w.CPUus },
			func(w *row) string { return fmt.Sprintf("%.1f µs", w.CPUus) }},
		{"queries per second, unthrottled (higher is better)",
			func(w *row) float64 { return w.QPS },
			func(w *row) string {
				return fmt.Sprintf("%.0f q/s · server %s, dnsperf %s busy", w.QPS, pct(w.Busy), pct(w.LoadBusy))
			}},
	}
	panelH := 22 + len(rows)*(barH+barGap)
	height := top + len(panels)*(panelH+panelGp) + 20

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	m := rep.meta
	fmt.Fprintf(&b, `<text x="12" y="22" font-size="15" font-weight="bold">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("srvbridge vs Consul DNS vs Knot DNS — %s, commit %s", strings.Fields(m["date"] + " ?")[0], m["commit"])))
	fmt.Fprintf(&b, `<text x="12" y="40" fill="#555">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("%s services × %s instances; dnsperf on the same machine; %s", m["services"], m["instances"], shortPin(m))))

	y := top
	for _, p := range panels {
		fmt.Fprintf(&b, `<text x="12" y="%d" font-weight="bold">%s</text>`+"\n", y+14, html.EscapeString(p.title))
		y += 22
		top := 0.0
		for _, w := range rows {
			top = math.Max(top, p.value(w))
		}
		scale := 0.0
		if top > 0 {
			scale = float64(width-left-right) / top
		}
		for _, w := range rows {
			v := p.value(w)
			bw := math.Max(1, v*scale)
			if math.IsNaN(bw) {
				bw = 1
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH/2+5, html.EscapeString(svgName(w.Server)))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, bw, barH, serverColors[w.Server])
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(left)+bw+6, y+barH/2+5, html.EscapeString(p.label(w)))
			y += barH + barGap
		}
		y += panelGp - barGap
	}
	sbKnot, _, consulSb := rep.ratios()
	fmt.Fprintf(&b, `<text x="12" y="%d" fill="#555">%s</text>`+"\n", height-12,
		html.EscapeString(fmt.Sprintf("CPU per query: srvbridge/Knot %.2f, Consul/srvbridge %.1f", sbKnot, consulSb)))
	b.WriteString("</svg>\n")
	return b.String()
}

func shortPin(m map[string]string) string {
	if m["pin"] != "1" {
		return "not pinned"
	}
	return fmt.Sprintf("server on CPU %s, dnsperf on CPU %s", m["server_cpus"], m["load_cpus"])
}
