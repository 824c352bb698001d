package health

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/hashicorp/consul/api"
)

// The testdata are /v1/health/service answers of a 1.16.3 agent: five
// agent-registered instances with tags, meta, weights, a service check and the
// node's serfHealth. A dev agent (consultest's) indents its answers;
// health-service-web-compact.json is the same answer as production agents send it.
var serviceAnswers = []struct{ name, file string }{
	{"pretty", "testdata/health-service-web.json"},
	{"compact", "testdata/health-service-web-compact.json"},
}

func readAnswer(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeLikeAPI decodes an answer the way api.Client.Raw().Query does (decodeBody:
// a json.Decoder on the response body) into what fetchService gives it.
func decodeLikeAPI(t testing.TB, data []byte) []serviceEntry {
	t.Helper()
	var slim []serviceEntry
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&slim); err != nil {
		t.Fatal(err)
	}
	return slim
}

// TestSlimDecodeServesTheSame: the slim decode gives the instances the full one does.
func TestSlimDecodeServesTheSame(t *testing.T) {
	for _, a := range serviceAnswers {
		b := readAnswer(t, a.file)
		var full []*api.ServiceEntry
		if err := json.Unmarshal(b, &full); err != nil {
			t.Fatal(err)
		}
		slim := decodeLikeAPI(t, b)
		for _, onlyPassing := range []bool{false, true} {
			want, got := instancesFrom(full, onlyPassing), instances(slim, onlyPassing)
			if len(want) != 5 || !reflect.DeepEqual(got, want) {
				t.Errorf("%s, onlyPassing=%v:\n got %+v\nwant %+v", a.name, onlyPassing, got, want)
			}
			for i, e := range full {
				if raw := e.Checks.AggregatedStatus(); want[i].RawStatus != raw {
					t.Errorf("%s: instance %d: RawStatus %q, Consul's %q", a.name, i, want[i].RawStatus, raw)
				}
			}
		}
	}
}

// TestAggregatedStatusIsConsuls: RawStatus is Consul's own summary, to the letter.
func TestAggregatedStatusIsConsuls(t *testing.T) {
	for _, checks := range []api.HealthChecks{
		nil,
		{chk("serfHealth", api.HealthPassing)},
		{chk("serfHealth", api.HealthPassing), chk("service:web-1", api.HealthWarning)},
		{chk("serfHealth", api.HealthCritical), chk("service:web-1", api.HealthWarning)},
		{chk(api.NodeMaint, api.HealthCritical), chk("service:web-1", api.HealthPassing)},
		{chk(api.ServiceMaintPrefix+"web-1", api.HealthPassing)},
		{chk("web-1:overall-check", api.HealthMaint)},
		{chk("service:web-1", "unknown"), chk(api.NodeMaint, api.HealthCritical)},
		{chk(api.NodeMaint, api.HealthCritical), chk("service:web-1", "")},
	} {
		if got, want := aggregatedStatus(checkStates(checks)), checks.AggregatedStatus(); got != want {
			t.Errorf("%v: %q, Consul says %q", checkStates(checks), got, want)
		}
	}
}

// BenchmarkDecodeService: what srvbridge does with one answer, from the bytes
// Consul sent to the instances and mesh sources of a ServiceState. "api" is the
// full api.ServiceEntry decode, for reference.
func BenchmarkDecodeService(b *testing.B) {
	b.Run("api", func(b *testing.B) {
		data := readAnswer(b, serviceAnswers[0].file)
		b.ReportAllocs()
		for b.Loop() {
			var full []*api.ServiceEntry
			if err := json.Unmarshal(data, &full); err != nil {
				b.Fatal(err)
			}
			instancesFrom(full, false)
		}
	})
	for _, a := range serviceAnswers {
		data := readAnswer(b, a.file)
		b.Run(a.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				slim := decodeLikeAPI(b, data)
				instances(slim, false)
				sourcesOf("connect web", slim)
			}
		})
	}
}
