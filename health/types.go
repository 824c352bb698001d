// Package health watches Consul with blocking queries and turns what it sees into
// health-classified service instances. It knows nothing of DNS.
package health

// Status is an instance's aggregated check state after the health policy is applied.
type Status uint8

const (
	Passing Status = iota
	Warning
	// Critical covers failing checks, maintenance mode and, under --only-passing,
	// warning: every state that keeps an instance out of normal answers.
	Critical
)

func (s Status) String() string {
	switch s {
	case Passing:
		return "passing"
	case Warning:
		return "warning"
	default:
		return "critical"
	}
}

// Instance is one registered service instance as served.
type Instance struct {
	ID          string
	Node        string
	NodeAddress string
	// Address is the address clients connect to: the service address, or the node
	// address when the service has none.
	Address string
	// OwnAddress is true when the service registered an address of its own. Consul
	// then names the SRV target <hex-ip>.addr.<dc>.<domain>; otherwise the node.
	OwnAddress bool
	Port       uint16
	Weight     uint16
	Status     Status
	Tags       []string
	// RawStatus is Consul's aggregated status before the policy, for operators.
	RawStatus string
}

// Healthy reports whether the instance belongs in a normal answer.
func (i *Instance) Healthy() bool { return i.Status != Critical }

// ServiceState is the full current state of one service in one datacenter. Instances holds
// every registered instance, healthy or not, so that later stages can apply fallback
// policies; an empty slice means the service has no registered instance left.
type ServiceState struct {
	Service    string
	Datacenter string
	Instances  []Instance
	// Index is Consul's X-Consul-Index for the answer, for diagnostics.
	Index uint64
}

// Catalog is the set of service names registered in one datacenter, with their tags.
type Catalog struct {
	Datacenter string
	Services   map[string][]string
	Index      uint64
}

// Node is a catalog node, for <node>.node.<dc>.<domain> names.
type Node struct {
	Name    string
	Address string
	Meta    map[string]string
}

// Nodes is the set of nodes registered in one datacenter.
type Nodes struct {
	Datacenter string
	Nodes      []Node
	Index      uint64
}
