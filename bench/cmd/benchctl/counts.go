package main

// replyCounts counts the queries of a load by what came back for them.
type replyCounts struct {
	Sent     int64 `json:"sent"`
	NoError  int64 `json:"noerror"`
	NXDomain int64 `json:"nxdomain"`
	ServFail int64 `json:"servfail"`
	Other    int64 `json:"other"` // other rcodes
	TC       int64 `json:"tc"`    // answers with TC set (counted in their rcode too)
	Late     int64 `json:"late"`  // replies after the timeout: counted as lost
}

func (c replyCounts) answered() int64 { return c.NoError + c.NXDomain + c.ServFail + c.Other }
func (c replyCounts) lost() int64     { return c.Sent - c.answered() }

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

func (c *replyCounts) merge(o replyCounts) {
	c.Sent += o.Sent
	c.NoError += o.NoError
	c.NXDomain += o.NXDomain
	c.ServFail += o.ServFail
	c.Other += o.Other
	c.TC += o.TC
	c.Late += o.Late
}
