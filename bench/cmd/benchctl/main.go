// Command benchctl is the Go half of the srvbridge benchmark (bench/run.sh is the other
// half): it registers the synthetic catalog in Consul, derives the dnsperf query file and
// the equivalent Knot zone from that catalog, checks each server's answers, measures how
// fast a health flip reaches DNS answers, and turns the recorded runs into the results
// table, Markdown file and SVG chart.
//
// Every subcommand is bounded in time and talks to 127.0.0.0/8 only (the addresses it is
// given on the command line).
package main

import (
	"fmt"
	"os"
)

var commands = map[string]struct {
	run  func(args []string) error
	help string
}{
	"ports":    {cmdPorts, "print N free loopback ports (free for both TCP and UDP)"},
	"register": {cmdRegister, "register N services x M instances in Consul's catalog, plus the flip service"},
	"gen":      {cmdGen, "read the catalog and write the dnsperf query file and the Knot zone"},
	"wait":     {cmdWait, "wait until srvbridge's /metrics show the whole catalog served"},
	"metric":   {cmdMetric, "print the sum of one metric family from srvbridge's /metrics"},
	"probe":    {cmdProbe, "ask a DNS server a few names and print rcode and section counts"},
	"prop":     {cmdProp, "flip a TTL check repeatedly and time until each DNS server's answer changes"},
	"report":   {cmdReport, "turn the recorded runs into the table, the Markdown results and the SVG chart"},
	"tables":   {cmdTables, "rewrite the docs' generated tables from bench/results (make tables)"},
	// bench/scale.sh
	"machine":      {cmdMachine, "print the machine description (CPU, cores, RAM, kernel) as key=value lines"},
	"quiet":        {cmdQuiet, "wait (bounded) until the CPUs are quiet, and say how busy they were"},
	"observe":      {cmdObserve, "CPU time, RSS and srvbridge's Consul requests over a window, as a JSON line"},
	"firstanswer":  {cmdFirstAnswer, "time from srvbridge's start until its first answer with records"},
	"churn":        {cmdChurn, "flap instances' checks via /v1/txn at a fixed rate; time sampled changes to DNS"},
	"change":       {cmdChange, "one check change after an outage, timed until srvbridge's answer shows it"},
	"load":         {cmdLoad, "fixed-rate UDP queries with per-second counts by rcode, and /readyz readings"},
	"scale-report": {cmdScaleReport, "turn scale.sh's recordings into the Markdown results"},
	// bench/catalog.sh
	"catalog-load":    {cmdCatalogLoad, "clients asking every name per interval plus a fixed-rate sweep; rcodes, latency histogram"},
	"conns":           {cmdConns, "sample a process's ESTABLISHED connections to Consul's port every 100 ms; the maximum"},
	"consul-requests": {cmdConsulRequests, "the agent's own count of HTTP requests served over a window"},
	"catalog-prop":    {cmdCatalogProp, "check, registration, port and address changes timed until srvbridge's answer shows them"},
	"catalog-compare": {cmdCatalogCompare, "ask two DNS servers every name (A, SRV) and compare the answers"},
	"readyz":          {cmdReadyz, "time from srvbridge's start until /readyz answers 200"},
	"catalog-report":  {cmdCatalogReport, "turn catalog.sh's recordings into the Markdown results, target by target"},
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]].run == nil {
		fmt.Fprintln(os.Stderr, "usage: benchctl <command> [flags]")
		for _, name := range []string{"ports", "register", "gen", "wait", "metric", "probe", "prop", "report", "tables",
			"machine", "quiet", "observe", "firstanswer", "churn", "change", "load", "scale-report",
			"catalog-load", "conns", "consul-requests", "catalog-prop", "catalog-compare", "readyz", "catalog-report"} {
			fmt.Fprintf(os.Stderr, "  %-15s %s\n", name, commands[name].help)
		}
		os.Exit(2)
	}
	if err := commands[os.Args[1]].run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchctl %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
