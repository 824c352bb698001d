package health

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/hashicorp/consul/api"
)

// testdata/health-service-web.json is a /v1/health/service answer of a 1.16.3 agent:
// five agent-registered instances with tags, meta, weights, a service check and the
// node's serfHealth.

func readServiceAnswer(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/health-service-web.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlimDecodeServesTheSame: the slim decode gives the instances the full one does.
func TestSlimDecodeServesTheSame(t *testing.T) {
	b := readServiceAnswer(t)
	var full []*api.ServiceEntry
	var slim []serviceEntry
	if err := json.Unmarshal(b, &full); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &slim); err != nil {
		t.Fatal(err)
	}
	for _, onlyPassing := range []bool{false, true} {
		want, got := instancesFrom(full, onlyPassing), instancesFrom(entriesOf(slim), onlyPassing)
		if len(want) != 5 || !reflect.DeepEqual(got, want) {
			t.Errorf("onlyPassing=%v:\n got %+v\nwant %+v", onlyPassing, got, want)
		}
	}
}

func BenchmarkDecodeService(b *testing.B) {
	data := readServiceAnswer(b)
	b.Run("api", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var full []*api.ServiceEntry
			if err := json.Unmarshal(data, &full); err != nil {
				b.Fatal(err)
			}
			instancesFrom(full, false)
		}
	})
	b.Run("slim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var slim []serviceEntry
			if err := json.Unmarshal(data, &slim); err != nil {
				b.Fatal(err)
			}
			instancesFrom(entriesOf(slim), false)
		}
	})
}
