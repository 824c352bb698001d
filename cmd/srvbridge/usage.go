package main

import (
	"fmt"
	"io"
	"strings"
)

const usageIntro = `Usage: srvbridge [flags]

srvbridge is an authoritative DNS server for Consul services, built for API
gateways such as Kong: it watches Consul, keeps the healthy instances of each
service in memory and answers SRV, A and AAAA queries under --domain from there.

Every flag can also be set with the environment variable shown with it; a flag
on the command line wins over its variable.

Flags:
`

const usageOutro = `
  --version
        Print the version and exit.
  --help
        Print this help and exit.

Consul connection: the variables of the consul CLI are honoured as consul/api
reads them: CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_AUTH,
CONSUL_HTTP_SSL, CONSUL_HTTP_SSL_VERIFY, CONSUL_CACERT, CONSUL_CAPATH,
CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME. There is no
token flag on purpose: command lines are visible to every user of the host.

Invalid settings exit with status 2 and one line naming the flag.
`

// writeUsage prints --help, generated from specs.
func writeUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(usageIntro)
	for _, s := range specs {
		b.WriteString("  --" + s.Name)
		if !s.Bool {
			b.WriteString(" " + s.Arg)
		}
		b.WriteString("\n")
		for _, line := range wrap(s.Usage, 70) {
			b.WriteString("        " + line + "\n")
		}
		line := fmt.Sprintf("        env %s, default %s", s.EnvName(), s.shownDefault())
		if len(line) > 80 {
			line = fmt.Sprintf("        env %s,\n        default %s", s.EnvName(), s.shownDefault())
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(usageOutro)
	io.WriteString(w, b.String())
}

// wrap breaks text into lines of at most width characters at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// markdownConfigTable renders the configuration reference in docs/configuration.md
// from specs.
func markdownConfigTable() string {
	var b strings.Builder
	b.WriteString("| Flag | Environment | Default | Meaning |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, s := range specs {
		flag := "`--" + s.Name + "`"
		if !s.Bool {
			flag = "`--" + s.Name + " " + s.Arg + "`"
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s |\n", flag, s.EnvName(), s.shownDefault(), s.Usage)
	}
	return b.String()
}
