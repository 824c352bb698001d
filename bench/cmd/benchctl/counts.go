package main

import (
	"fmt"
	"strings"
)

// replyCounts counts the queries of a load by what came back for them.
type replyCounts struct {
	Sent     int64 `json:"sent"`
	NoError  int64 `json:"noerror"`
	NXDomain int64 `json:"nxdomain"`
	ServFail int64 `json:"servfail"`
	Other    int64 `json:"other"` // other rcodes
	TC       int64 `json:"tc"`    // answers with TC set (counted in their rcode too)
	Late     int64 `json:"late"`  // replies after the timeout: counted as lost
	// The late replies by rcode, so that "0 SERVFAIL" also holds for the replies that
	// came after the timeout. Result files written before the split have only Late;
	// Late minus these is then the unclassified rest (lateUnknown).
	LateNoError  int64 `json:"late_noerror,omitempty"`
	LateNXDomain int64 `json:"late_nxdomain,omitempty"`
	LateServFail int64 `json:"late_servfail,omitempty"`
	LateOther    int64 `json:"late_other,omitempty"`
	// Slow counts the replies within the timeout that took more than a millisecond
	// (the p99 target), so that a result file shows whether they cluster in time.
	Slow int64 `json:"slow_1ms,omitempty"`
}

func (c replyCounts) answered() int64 { return c.NoError + c.NXDomain + c.ServFail + c.Other }
func (c replyCounts) lost() int64     { return c.Sent - c.answered() }

// lateUnknown is the late replies whose rcode was not recorded (older result files).
func (c replyCounts) lateUnknown() int64 {
	return c.Late - c.LateNoError - c.LateNXDomain - c.LateServFail - c.LateOther
}

// addReply counts one reply that came in time.
func (c *replyCounts) addReply(rcode int, tc bool) {
	switch rcode {
	case 0:
		c.NoError++
	case 2:
		c.ServFail++
	case 3:
		c.NXDomain++
	default:
		c.Other++
	}
	if tc {
		c.TC++
	}
}

// addLate counts one reply that came after the timeout: lost for the load, but its
// rcode is kept.
func (c *replyCounts) addLate(rcode int) {
	c.Late++
	switch rcode {
	case 0:
		c.LateNoError++
	case 2:
		c.LateServFail++
	case 3:
		c.LateNXDomain++
	default:
		c.LateOther++
	}
}

func (c *replyCounts) merge(o replyCounts) {
	c.Sent += o.Sent
	c.NoError += o.NoError
	c.NXDomain += o.NXDomain
	c.ServFail += o.ServFail
	c.Other += o.Other
	c.TC += o.TC
	c.Late += o.Late
	c.LateNoError += o.LateNoError
	c.LateNXDomain += o.LateNXDomain
	c.LateServFail += o.LateServFail
	c.LateOther += o.LateOther
	c.Slow += o.Slow
}

// fmtLate says how many replies came after the timeout and what they were:
// "3 late replies: 1 NOERROR, 2 SERVFAIL".
func fmtLate(c replyCounts) string {
	if c.Late == 0 {
		return "0 late replies"
	}
	var parts []string
	for _, p := range []struct {
		n    int64
		what string
	}{{c.LateNoError, "NOERROR"}, {c.LateServFail, "SERVFAIL"}, {c.LateNXDomain, "NXDOMAIN"}, {c.LateOther, "other rcodes"},
		{c.lateUnknown(), "rcode not recorded (a result file from before late replies were classified)"}} {
		if p.n != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return fmt.Sprintf("%d late replies: %s", c.Late, strings.Join(parts, ", "))
}
