package console

import (
	"slices"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/contract/protoprint"
)

// versionView is one version as the version page shows it.
type versionView struct {
	versionRow
	Subject     string
	Latest      int
	Description string
	Table       *contract.Table
	TableErr    []string // why the contract has no table mapping
	Columns     []columnRow
	Rules       []string // message-level protovalidate rules of the event
	PII         []piiField
	File        protoFile   // the event's file as .proto
	Imports     []protoFile // the other files it needs, hem's and Google's aside
}

// columnRow is one column, nested columns flattened below their record.
type columnRow struct {
	Depth       int
	Name        string
	Type        string
	Mode        string
	Description string
	PII         string
	// Encryption is the badge of an encrypted field ("encrypted, per
	// member"), "" for others.
	Encryption string
	PolicyTag  string
	Rules      string
	Meta       bool // a pipeline column, not a contract field
}

type protoFile struct {
	Path string
	Text string
}

func viewVersion(sc *contract.Schema, timeline []versionRow) *versionView {
	md := sc.Descriptor()
	v := &versionView{Subject: sc.Subject, Latest: timeline[0].Version, Description: leading(md), PII: piiFields(md)}
	for _, row := range timeline {
		if row.Version == sc.Version {
			v.versionRow = row
		}
	}
	if v.Version == 0 { // not in the timeline: fill what the schema knows
		v.versionRow = versionRow{Version: sc.Version, ID: sc.ID, State: sc.State.String(), CreatedAt: sc.CreatedAt, Fingerprint: sc.Fingerprint()}
	}
	t, err := contract.MapTable(md)
	if err != nil {
		if me, ok := contract.AsMappingErrors(err); ok {
			for _, e := range me {
				v.TableErr = append(v.TableErr, e.Error())
			}
		} else {
			v.TableErr = []string{err.Error()}
		}
	} else {
		v.Table = t
		eo, _ := contract.EventOptions(md)
		v.Columns = flatten(t.Columns, 0, nil, eo.GetDataSubjectField())
	}
	v.Rules = messageRules(md)
	v.File = protoFile{Path: md.ParentFile().Path(), Text: protoprint.File(md.ParentFile(), sc.Files())}
	if files := sc.Files(); files != nil {
		files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			if fd.Path() != v.File.Path && !linked(fd.Path()) {
				v.Imports = append(v.Imports, protoFile{Path: fd.Path(), Text: protoprint.File(fd, files)})
			}
			return true
		})
		slices.SortFunc(v.Imports, func(a, b protoFile) int { return strings.Compare(a.Path, b.Path) })
	}
	return v
}

// linked says whether path is a file hem links in (well-known types,
// protovalidate, hem's options): the page does not repeat those.
func linked(path string) bool {
	_, err := protoregistry.GlobalFiles.FindFileByPath(path)
	return err == nil
}

func flatten(cols []contract.Column, depth int, out []columnRow, subjectField string) []columnRow {
	for _, c := range cols {
		row := columnRow{Depth: depth, Name: c.Name, Type: string(c.Type), Mode: string(c.Mode), Description: c.Description, PolicyTag: c.PolicyTag, Meta: c.Field == nil && depth == 0}
		if c.Field != nil {
			if fo := contract.FieldOptions(c.Field); fo != nil {
				row.PII = piiName(fo.GetPii())
			}
			if contract.Encrypted(c.Field) {
				row.Encryption = encryptionBadge(c.Field, subjectField)
			}
			row.Rules = fieldRules(c.Field)
		}
		out = append(out, row)
		out = flatten(c.Fields, depth+1, out, subjectField)
	}
	return out
}

// leading is a descriptor's leading comment.
func leading(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	return strings.TrimSpace(loc.LeadingComments)
}

// fieldRules is the (buf.validate.field) option of fd in text form, "" if
// none.
func fieldRules(fd protoreflect.FieldDescriptor) string {
	var opts descriptorpb.FieldOptions
	if !retyped(fd.Options(), &opts) || !proto.HasExtension(&opts, validate.E_Field) {
		return ""
	}
	rules, _ := proto.GetExtension(&opts, validate.E_Field).(*validate.FieldRules)
	return compactText(rules)
}

// messageRules are the (buf.validate.message) rules and the
// (buf.validate.oneof) rules of md's oneofs.
func messageRules(md protoreflect.MessageDescriptor) []string {
	var out []string
	var opts descriptorpb.MessageOptions
	if retyped(md.Options(), &opts) && proto.HasExtension(&opts, validate.E_Message) {
		if r, _ := proto.GetExtension(&opts, validate.E_Message).(*validate.MessageRules); r != nil {
			out = append(out, compactText(r))
		}
	}
	oneofs := md.Oneofs()
	for i := range oneofs.Len() {
		o := oneofs.Get(i)
		var oo descriptorpb.OneofOptions
		if retyped(o.Options(), &oo) && proto.HasExtension(&oo, validate.E_Oneof) {
			if r, _ := proto.GetExtension(&oo, validate.E_Oneof).(*validate.OneofRules); r != nil {
				out = append(out, "oneof "+string(o.Name())+": "+compactText(r))
			}
		}
	}
	return out
}

// retyped copies options through the wire format, so extensions become
// the linked Go types whatever built the descriptor.
func retyped(src, dst proto.Message) bool {
	if src == nil || !src.ProtoReflect().IsValid() {
		return false
	}
	b, err := proto.Marshal(src)
	if err != nil {
		return false
	}
	return proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}.Unmarshal(b, dst) == nil
}

func compactText(m proto.Message) string {
	if m == nil {
		return ""
	}
	// prototext may put random spaces in (to stop anyone parsing it);
	// collapse them for display.
	return strings.Join(strings.Fields(prototext.MarshalOptions{}.Format(m)), " ")
}
