package main

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// cmdProbe asks one server each "name TYPE" given as arguments and prints the reply's
// rcode and section counts, so that the results show what each server actually answers
// for the same question (Consul's DNS, for example, caps UDP answers at 3 records).
func cmdProbe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	addr := fs.String("addr", "", "DNS server host:port")
	label := fs.String("label", "", "server name to print")
	tries := fs.Int("tries", 50, "attempts per question, 100 ms apart, before giving up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := dial(*addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, q := range fs.Args() {
		name, tname, ok := strings.Cut(q, " ")
		qtype, known := typeNames[tname]
		if !ok || !known {
			return fmt.Errorf("question %q: want \"name A\" or \"name SRV\"", q)
		}
		var h header
		for i := range max(1, *tries) {
			if h, err = c.ask(name, qtype, 500*time.Millisecond); err == nil {
				break
			}
			if i < *tries-1 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", *label, name, tname, err)
		}
		fmt.Printf("%-9s %-40s %-3s %s\n", *label, name, tname, h)
	}
	return nil
}
