package devpubsub

// Crash stops the server as kill -9 would stop the process: the log stops
// where it is (what is appended but not written is lost, and its callers get
// no success), no file is written on the way out, and the server stops
// serving. Reopening the same folder is then a restart after a crash.
func (s *Server) Crash() {
	select {
	case <-s.stop:
		return
	default:
	}
	if s.log != nil {
		s.crash()
	}
	close(s.stop)
	s.done.Wait()
	if s.grpc != nil {
		s.grpc.Stop()
	}
}
