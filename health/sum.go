package health

import (
	"encoding/binary"
	"hash/maphash"
)

// sumSeed is fixed for the process: sums are only compared within it.
var sumSeed = maphash.MakeSeed()

// stateSum fingerprints what a ServiceState gives the sink: every field of every
// instance, in order, and the mesh sources. Index is left out on purpose: it says
// when, not what. A sweep refetches every held service; the fetches whose sum did
// not change are not delivered. Consul's index cannot decide that alone: an agent
// restarted without its data reaches the old index again with other instances.
func stateSum(st *ServiceState) uint64 {
	var s summer
	s.h.SetSeed(sumSeed)
	s.num(uint64(len(st.Instances)))
	for i := range st.Instances {
		in := &st.Instances[i]
		s.str(in.ID)
		s.str(in.Node)
		s.str(in.NodeAddress)
		s.str(in.Address)
		s.flag(in.OwnAddress)
		s.num(uint64(in.Port))
		s.num(uint64(in.Weight))
		s.num(uint64(in.Status))
		s.strs(in.Tags)
		s.str(in.RawStatus)
		s.str(in.Virtual)
	}
	s.strs(st.sources)
	return s.h.Sum64()
}

// summer writes values with their lengths, so that ("ab","c") and ("a","bc")
// differ.
type summer struct {
	h   maphash.Hash
	buf [8]byte
}

func (s *summer) num(v uint64) {
	binary.LittleEndian.PutUint64(s.buf[:], v)
	s.h.Write(s.buf[:])
}

func (s *summer) str(v string) {
	s.num(uint64(len(v)))
	s.h.WriteString(v)
}

func (s *summer) strs(v []string) {
	s.num(uint64(len(v)))
	for _, x := range v {
		s.str(x)
	}
}

func (s *summer) flag(v bool) {
	if v {
		s.num(1)
	} else {
		s.num(0)
	}
}
