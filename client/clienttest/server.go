package clienttest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a fake CENTAGATE listening on a loopback port, like an
// httptest.Server. The caller must Close it.
type Server struct {
	// URL is the web-service root including the base path, e.g.
	// http://127.0.0.1:PORT/CentagateWS/webresources: what an operator
	// gives tokenreg as --url.
	URL string

	h         *Handler
	ln        net.Listener
	srv       *http.Server
	transport *http.Transport
	served    chan struct{}
	closeOnce sync.Once
}

// NewServer starts a Server for st on 127.0.0.1 (or [::1]) at a free port.
// Like httptest.NewServer it panics if it cannot listen.
func NewServer(st State, opts Options) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("clienttest: failed to listen on a loopback port: %v", err))
		}
	}
	h := NewHandler(st, opts)
	s := &Server{
		URL: "http://" + ln.Addr().String() + h.BasePath(),
		h:   h,
		ln:  ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 30 * time.Second,
			// Resets and client timeouts are the point of this server:
			// do not log them.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		s.srv.Serve(ln) // returns when Close closes the listener
	}()
	return s
}

// Close stops accepting connections, ends hanging requests, waits for the
// requests in flight to be answered, then closes every connection. It is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.srv.SetKeepAlivesEnabled(false)
		s.ln.Close()
		<-s.served
		s.h.Close()
		// A handler that has returned may not have flushed its answer
		// yet: Shutdown lets the connections finish it, Close would cut
		// it off. A connection accepted but still silent keeps Shutdown
		// waiting, hence the bound.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		s.transport.CloseIdleConnections()
	})
}

// Client returns an HTTP client configured for the server, with keep-alive
// connections to it; Close closes its idle connections.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: s.transport}
}

// Stats returns a snapshot of what the server saw. It is safe for
// concurrent use, also while requests are in flight.
func (s *Server) Stats() Stats { return s.h.Stats() }

// State returns a copy of the server's current state.
func (s *Server) State() State { return s.h.State() }
