package bigquerytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultStreamID is the only stream the fake serves: the one every table has.
const defaultStreamID = "_default"

var streamName = regexp.MustCompile(`^projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/streams/([^/]+)$`)

// writeServer implements the Storage Write API. Only the default stream
// exists: CreateWriteStream, FlushRows, FinalizeWriteStream and
// BatchCommitWriteStreams answer UNIMPLEMENTED.
type writeServer struct {
	storagepb.UnimplementedBigQueryWriteServer
	s *Server
}

var _ storagepb.BigQueryWriteServer = (*writeServer)(nil)

func parseStreamName(name string) (tableRef, error) {
	m := streamName.FindStringSubmatch(name)
	if m == nil {
		return tableRef{}, status.Errorf(codes.InvalidArgument, "Invalid stream name: %q. Entity: %s", name, name)
	}
	if m[4] != defaultStreamID {
		// Explicit streams would need CreateWriteStream, which the fake lacks.
		return tableRef{}, status.Errorf(codes.NotFound, "Requested entity was not found. Entity: %s", name)
	}
	return tableRef{project: m[1], dataset: m[2], table: m[3]}, nil
}

// writableTableLocked finds the table a stream writes to.
func (s *Server) writableTableLocked(ref tableRef, name string) (*table, error) {
	t, err := s.tableLocked(ref.project, ref.dataset, ref.table)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "Requested entity was not found. Entity: %s", name)
	}
	if t.isView() {
		return nil, status.Errorf(codes.InvalidArgument, "Cannot write to view %s. Entity: %s", ref, name)
	}
	return t, nil
}

func (w *writeServer) GetWriteStream(_ context.Context, req *storagepb.GetWriteStreamRequest) (*storagepb.WriteStream, error) {
	ref, err := parseStreamName(req.GetName())
	if err != nil {
		return nil, err
	}
	s := w.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.writableTableLocked(ref, req.GetName())
	if err != nil {
		return nil, err
	}
	ws := &storagepb.WriteStream{
		Name:       req.GetName(),
		Type:       storagepb.WriteStream_COMMITTED,
		CreateTime: timestamppb.New(t.schemas[0].since),
		WriteMode:  storagepb.WriteStream_INSERT,
		Location:   str(t.doc["location"]),
	}
	if req.GetView() == storagepb.WriteStreamView_FULL {
		ws.TableSchema = storageSchema(t.writeSchema(s.cfg.now(), s.cfg.propagationDelay).fields)
	}
	return ws, nil
}

// AppendRows serves one bidirectional connection. Requests are answered in
// order, one response each. Problems with a single request come back in its
// response (the connection stays usable, as in BigQuery); a request over the
// size limit, or a connection that never names its stream, ends the stream.
func (w *writeServer) AppendRows(stream storagepb.BigQueryWrite_AppendRowsServer) error {
	c := &appendConn{streams: map[string]*streamState{}}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := w.s.append(c, req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		if resp.GetError() != nil && c.faulted {
			return nil // the injected fault ends the connection without a status
		}
	}
}

// appendConn is the state of one AppendRows connection: the stream and
// writer schema stick from request to request, per stream when the
// connection is multiplexed.
type appendConn struct {
	current string
	streams map[string]*streamState
	faulted bool // the last response was an injected fault
	// first is the connection's first writer schema (WithConnectionSchema).
	first *descriptorpb.DescriptorProto
}

// streamState is what a connection knows about one stream it writes to.
type streamState struct {
	name   string
	ref    tableRef
	schema *descriptorpb.DescriptorProto
	writer *writerSchema
	// reported is the id of the table schema version the writer last heard
	// of; a newer one is sent back as updated_schema.
	reported uint64
}

func (s *Server) append(c *appendConn, req *storagepb.AppendRowsRequest) (*storagepb.AppendRowsResponse, error) {
	if size := proto.Size(req); size > s.cfg.maxRequestBytes {
		return nil, status.Errorf(codes.InvalidArgument,
			"AppendRows request too large: %d bytes, limit %d bytes. Entity: %s", size, s.cfg.maxRequestBytes, c.entity(req))
	}
	if name := req.GetWriteStream(); name != "" {
		c.current = name
	}
	if c.current == "" {
		return nil, status.Error(codes.InvalidArgument, "write_stream must be set in the first request of a connection")
	}
	st := c.streams[c.current]
	if st == nil {
		ref, err := parseStreamName(c.current)
		if err != nil {
			return nil, err
		}
		st = &streamState{name: c.current, ref: ref}
		c.streams[c.current] = st
	}
	s.mu.RLock()
	fault := s.appendFault
	s.mu.RUnlock()
	if c.faulted = false; fault != nil {
		if st := fault(st.ref.table); st != nil {
			c.faulted = true
			return errorResponse(c.current, st.Err()), nil
		}
	}
	resp, err := s.appendTo(c, st, req)
	if err != nil {
		return errorResponse(st.name, err), nil
	}
	return resp, nil
}

func (c *appendConn) entity(req *storagepb.AppendRowsRequest) string {
	if name := req.GetWriteStream(); name != "" {
		return name
	}
	return c.current
}

func (s *Server) appendTo(c *appendConn, st *streamState, req *storagepb.AppendRowsRequest) (*storagepb.AppendRowsResponse, error) {
	if req.GetArrowRows() != nil {
		return nil, status.Errorf(codes.Unimplemented, "bigquerytest: arrow rows are not supported. Entity: %s", st.name)
	}
	data := req.GetProtoRows()
	if data == nil {
		return nil, status.Errorf(codes.InvalidArgument, "Rows must be specified. Entity: %s", st.name)
	}
	dp := data.GetWriterSchema().GetProtoDescriptor()
	if s.cfg.connSchema {
		if c.first == nil {
			c.first = dp
		}
		dp = c.first
	}
	if dp != nil && !proto.Equal(dp, st.schema) {
		st.schema = dp
		st.writer = newWriterSchema(dp, s.cfg.connSchema || s.cfg.dropUnknown)
	}
	if st.writer == nil {
		return nil, status.Errorf(codes.InvalidArgument, "writer_schema must be set in the first request for a stream. Entity: %s", st.name)
	}
	if req.GetOffset() != nil {
		return nil, status.Errorf(codes.InvalidArgument, "Offset is not supported on the default stream. Entity: %s", st.name)
	}
	serialized := data.GetRows().GetSerializedRows()
	if len(serialized) == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "No rows in the request. Entity: %s", st.name)
	}

	s.mu.RLock()
	t, err := s.writableTableLocked(st.ref, st.name)
	var version schemaVersion
	if err == nil {
		version = t.writeSchema(s.cfg.now(), s.cfg.propagationDelay)
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}

	plan, err := st.writer.plan(version)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v Entity: %s", err, st.name)
	}
	rows := make([]map[string]any, 0, len(serialized))
	var rowErrs []*storagepb.RowError
	for i, b := range serialized {
		row, err := plan.decodeRow(b)
		if err != nil {
			rowErrs = append(rowErrs, &storagepb.RowError{Index: int64(i), Code: storagepb.RowError_FIELDS_ERROR, Message: err.Error()})
			continue
		}
		rows = append(rows, row)
	}
	if len(rowErrs) > 0 {
		// BigQuery appends all rows of a request or none of them.
		return &storagepb.AppendRowsResponse{
			Response: &storagepb.AppendRowsResponse_Error{Error: status.New(codes.InvalidArgument, fmt.Sprintf(
				"Errors found while processing rows. Please refer to the row_errors field for details. The list may not be covering all of the invalid rows. Entity: %s", st.name)).Proto()},
			RowErrors:   rowErrs,
			WriteStream: st.name,
		}, nil
	}

	s.mu.Lock()
	cur, err := s.writableTableLocked(st.ref, st.name)
	if err == nil && cur != t {
		// Dropped and re-created while the rows were decoded.
		err = status.Errorf(codes.NotFound, "Requested entity was not found. Entity: %s", st.name)
	}
	if err == nil {
		t.rows = append(t.rows, rows...)
		t.version++
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}

	resp := &storagepb.AppendRowsResponse{
		Response:    &storagepb.AppendRowsResponse_AppendResult_{AppendResult: &storagepb.AppendRowsResponse_AppendResult{}},
		WriteStream: st.name,
	}
	if st.reported != 0 && st.reported != version.id {
		resp.UpdatedSchema = storageSchema(version.fields)
	}
	st.reported = version.id
	return resp, nil
}

func errorResponse(name string, err error) *storagepb.AppendRowsResponse {
	return &storagepb.AppendRowsResponse{
		Response:    &storagepb.AppendRowsResponse_Error{Error: status.Convert(err).Proto()},
		WriteStream: name,
	}
}
