// Package monitoringtest is an in-process fake of Cloud Monitoring's
// MetricService for tests of console.CloudMonitoring: it speaks the real
// gRPC protocol, answers ListTimeSeries from canned series by metric type,
// and refuses what Cloud Monitoring refuses.
package monitoringtest

import (
	"context"
	"net"
	"regexp"
	"sync"
	"testing"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Server is the fake. Safe for concurrent use.
type Server struct {
	monitoringpb.UnimplementedMetricServiceServer
	// Addr is its plaintext host:port.
	Addr string

	project string
	series  map[string][]*monitoringpb.TimeSeries

	mu   sync.Mutex
	reqs []*monitoringpb.ListTimeSeriesRequest
}

// Start serves project's series (by metric type) on a loopback port until
// the test ends.
func Start(t testing.TB, project string, series map[string][]*monitoringpb.TimeSeries) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: lis.Addr().String(), project: project, series: series}
	srv := grpc.NewServer()
	monitoringpb.RegisterMetricServiceServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s
}

// Requests are the ListTimeSeries requests received so far.
func (s *Server) Requests() []*monitoringpb.ListTimeSeriesRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*monitoringpb.ListTimeSeriesRequest, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = proto.Clone(r).(*monitoringpb.ListTimeSeriesRequest)
	}
	return out
}

var metricType = regexp.MustCompile(`metric\.type\s*=\s*"([^"]+)"`)

// ListTimeSeries refuses, as Cloud Monitoring does, a filter without
// metric.type, an interval without its end or ending before its start, and
// a cross-series reducer without an aligner and an alignment period; an
// unknown project is NotFound.
func (s *Server) ListTimeSeries(_ context.Context, req *monitoringpb.ListTimeSeriesRequest) (*monitoringpb.ListTimeSeriesResponse, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, proto.Clone(req).(*monitoringpb.ListTimeSeriesRequest))
	s.mu.Unlock()
	m := metricType.FindStringSubmatch(req.GetFilter())
	switch iv, agg := req.GetInterval(), req.GetAggregation(); {
	case m == nil:
		return nil, status.Error(codes.InvalidArgument, "a filter must specify a metric type")
	case iv.GetEndTime() == nil:
		return nil, status.Error(codes.InvalidArgument, "the interval must have an end time")
	case iv.GetStartTime() != nil && iv.GetStartTime().AsTime().After(iv.GetEndTime().AsTime()):
		return nil, status.Error(codes.InvalidArgument, "the start time must not be after the end time")
	case agg.GetCrossSeriesReducer() != monitoringpb.Aggregation_REDUCE_NONE &&
		(agg.GetPerSeriesAligner() == monitoringpb.Aggregation_ALIGN_NONE || agg.GetAlignmentPeriod() == nil):
		return nil, status.Error(codes.InvalidArgument, "a cross-series reducer needs a per-series aligner and an alignment period")
	case req.GetName() != "projects/"+s.project:
		return nil, status.Errorf(codes.NotFound, "project %q", req.GetName())
	}
	return &monitoringpb.ListTimeSeriesResponse{TimeSeries: s.series[m[1]]}, nil
}
