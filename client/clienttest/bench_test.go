package clienttest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/tokenreg/tokenreg/client"
)

// BenchmarkServer measures the fake's throughput on loopback with parallel
// keep-alive clients, each request a successful SMS registration of a new
// number (so the state grows as it would in a migration). It reports req/s;
// compare with BenchmarkBareHTTP in the same run.
func BenchmarkServer(b *testing.B) {
	s := NewServer(State{Users: []string{"bench"}}, Options{})
	defer s.Close()
	benchLoop(b, s.Client(), s.URL+"/token/registerActiveToken/"+DefaultAdmin)
	if st := s.Stats(); st.ByCode["0"] != int64(b.N) {
		b.Errorf("Stats().ByCode = %v, want %d successes", st.ByCode, b.N)
	}
}

// BenchmarkBareHTTP is the ceiling: the same loop against a net/http server
// that answers a constant success without looking at the request.
func BenchmarkBareHTTP(b *testing.B) {
	answer := []byte(`{"code":"0","message":"Success","object":null}`)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer s.Close()
	hc := s.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	benchLoop(b, hc, s.URL+DefaultBasePath+"/token/registerActiveToken/"+DefaultAdmin)
}

func benchLoop(b *testing.B, hc *http.Client, url string) {
	cen := client.CenToken(DefaultAdmin, DefaultAuthToken, DefaultSecretCode)
	var next atomic.Int64
	b.SetParallelism(8) // 8 × GOMAXPROCS clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Sprintf(`{"username":"bench","tokenSn":"+6%013d","tokenType":"1","cenToken":%q}`, next.Add(1), cen)
			req, err := http.NewRequest(http.MethodPut, url, bytes.NewBufferString(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !bytes.HasPrefix(data, []byte(`{"code":"0"`)) {
				b.Errorf("answer %d %q, %v; want code 0", resp.StatusCode, data, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	hc.CloseIdleConnections()
}

// BenchmarkHandler measures the engine alone, without the network: the
// cost the fake adds to each request.
func BenchmarkHandler(b *testing.B) {
	h := NewHandler(State{Users: []string{"bench"}}, Options{})
	defer h.Close()
	cen := client.CenToken(DefaultAdmin, DefaultAuthToken, DefaultSecretCode)
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{header: http.Header{}}
		for pb.Next() {
			body := fmt.Sprintf(`{"username":"bench","tokenSn":"+6%013d","tokenType":"1","cenToken":%q}`, next.Add(1), cen)
			req, _ := http.NewRequest(http.MethodPut, "http://x"+DefaultBasePath+"/token/registerActiveToken/admin", bytes.NewBufferString(body))
			clear(w.header)
			h.ServeHTTP(w, req)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
