package contract

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	// Registers buf/validate/validate.proto, resolved from the linked Go
	// descriptors rather than from source.
	_ "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// Register the well-known types contracts may import.
	_ "google.golang.org/protobuf/types/known/anypb"
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/fieldmaskpb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"

	// Registers hem/options/v1/options.proto for contracts compiled outside
	// this repository.
	_ "github.com/hemlabs/hem/gen/hem/options/v1"
)

// Source is a compiled tree of .proto files.
type Source struct {
	files    []protoreflect.FileDescriptor
	resolver linker.Resolver
}

// CompileDir compiles every .proto file under dir, with dir as the import
// root. buf/validate, hem/options and the well-known types resolve from the
// descriptors linked into hem when dir does not hold them. Every compile
// error is reported, each with its position.
func CompileDir(ctx context.Context, dir string) (*Source, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".proto") {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("compile %s: no .proto files", dir)
	}
	return Compile(ctx, &protocompile.SourceResolver{ImportPaths: []string{dir}}, names...)
}

// CompileSources compiles in-memory files, keyed by import path. Tests and
// tools use it to build contracts without a directory.
func CompileSources(ctx context.Context, sources map[string]string) (*Source, error) {
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	slices.Sort(names)
	return Compile(ctx, &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(sources)}, names...)
}

// Compile compiles the named files with resolver, falling back to the linked
// descriptors for imports it does not find.
func Compile(ctx context.Context, resolver protocompile.Resolver, names ...string) (*Source, error) {
	var errs []error
	c := protocompile.Compiler{
		Resolver:       protocompile.CompositeResolver{resolver, linkedResolver},
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err)
			return nil
		}, nil),
	}
	files, err := c.Compile(ctx, names...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("compile: %w", errors.Join(errs...))
	}
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	src := &Source{resolver: files.AsResolver()}
	for _, f := range files {
		src.files = append(src.files, f)
	}
	return src, nil
}

var linkedResolver = protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		return protocompile.SearchResult{}, err
	}
	return protocompile.SearchResult{Desc: fd}, nil
})

// Files are the compiled files, in the order they were named.
func (s *Source) Files() []protoreflect.FileDescriptor { return s.files }

// Events lists every message carrying the event option, sorted by name.
func (s *Source) Events() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	for _, f := range s.files {
		walkMessages(f.Messages(), func(md protoreflect.MessageDescriptor) {
			if _, ok := EventOptions(md); ok {
				out = append(out, md)
			}
		})
	}
	slices.SortFunc(out, func(a, b protoreflect.MessageDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	return out
}

// Rollups lists every message carrying the rollup option, sorted by name.
func (s *Source) Rollups() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	for _, f := range s.files {
		walkMessages(f.Messages(), func(md protoreflect.MessageDescriptor) {
			if IsRollup(md) {
				out = append(out, md)
			}
		})
	}
	slices.SortFunc(out, func(a, b protoreflect.MessageDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	return out
}

// RollupSchemas builds a version of every rollup message, sorted by
// subject.
func (s *Source) RollupSchemas() ([]*Schema, error) {
	var out []*Schema
	for _, md := range s.Rollups() {
		sc, err := s.Schema(string(md.FullName()))
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// Message finds a message by full name.
func (s *Source) Message(name string) (protoreflect.MessageDescriptor, bool) {
	d, err := s.resolver.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, false
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	return md, ok
}

// Schema builds the version of the event or rollup message named subject.
func (s *Source) Schema(subject string) (*Schema, error) {
	md, ok := s.Message(subject)
	if !ok {
		return nil, fmt.Errorf("schema %s: no such message", subject)
	}
	return fromSet(subject, DescriptorSet(md.ParentFile()))
}

// Schemas builds a version of every event message, sorted by subject.
func (s *Source) Schemas() ([]*Schema, error) {
	var out []*Schema
	for _, md := range s.Events() {
		sc, err := s.Schema(string(md.FullName()))
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// DescriptorSet returns the FileDescriptorSet of f and every file it imports,
// transitively, dependencies first, with source info (comments) kept.
func DescriptorSet(f protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	var (
		fds  descriptorpb.FileDescriptorSet
		seen = map[string]bool{}
		add  func(protoreflect.FileDescriptor)
	)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		fds.File = append(fds.File, protodesc.ToFileDescriptorProto(f))
	}
	add(f)
	return &fds
}

func walkMessages(msgs protoreflect.MessageDescriptors, fn func(protoreflect.MessageDescriptor)) {
	for i := range msgs.Len() {
		md := msgs.Get(i)
		if md.IsMapEntry() {
			continue
		}
		fn(md)
		walkMessages(md.Messages(), fn)
	}
}
