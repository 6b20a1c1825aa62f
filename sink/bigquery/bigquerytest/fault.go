package bigquerytest

import (
	"net"
	"sync"

	"google.golang.org/grpc/status"
)

// gate is a listener that can cut the network: while closed it drops
// every open connection and every new one at once, as a network outage
// does (clients see resets and refused handshakes, not an answer).
type gate struct {
	net.Listener

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func newGate(ln net.Listener) *gate { return &gate{Listener: ln, conns: map[net.Conn]struct{}{}} }

func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			_ = c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, g: g}
		g.conns[tc] = struct{}{}
		g.mu.Unlock()
		return tc, nil
	}
}

func (g *gate) set(reachable bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = !reachable
	if reachable {
		return
	}
	for c := range g.conns {
		_ = c.(*trackedConn).Conn.Close()
		delete(g.conns, c)
	}
}

type trackedConn struct {
	net.Conn
	g *gate
}

func (c *trackedConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns, c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}

// SetReachable cuts (false) or restores (true) the network between the
// clients and both APIs: open connections are dropped and new ones closed
// as soon as they are accepted, until the server is reachable again. State
// is kept, so a test can take BigQuery away and bring it back.
func (s *Server) SetReachable(reachable bool) {
	s.httpGate.set(reachable)
	s.grpcGate.set(reachable)
}

// AppendFault decides, per AppendRows request, whether the server fails it:
// a non-nil status is answered in the request's response and then the
// server ends the connection without a status of its own, as some
// BigQuery-API servers do. table is the table the request writes to.
type AppendFault func(table string) *status.Status

// SetAppendFault makes every AppendRows request ask f first; nil removes
// the fault.
func (s *Server) SetAppendFault(f AppendFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendFault = f
}
