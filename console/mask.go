package console

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
)

// piiHandling is the PII handling of fd, "" for a field without one. A
// field with only a policy tag is governed data too: it is masked as
// "TAGGED".
func piiHandling(fd protoreflect.FieldDescriptor) string {
	fo := contract.FieldOptions(fd)
	if fo == nil {
		return ""
	}
	if h := piiName(fo.GetPii()); h != "" {
		return h
	}
	if fo.GetPolicyTag() != "" {
		return "TAGGED"
	}
	return ""
}

// maskText is what a viewer without MaySeePII sees instead of a value.
func maskText(handling string) string { return "•••• (pii: " + handling + ")" }

// payloadJSON renders m as indented protojson. Unless seePII, the value of
// every PII field (at any depth, in lists and maps too) is replaced by
// maskText, before the JSON is built into a string: the value never
// reaches the page. An encrypted field reads encryptedText (its ciphertext
// is never shown), or its plaintext through open for a viewer who may
// decrypt (open is nil for everyone else).
func payloadJSON(m protoreflect.Message, types *contract.Types, seePII bool, open *opener) (string, error) {
	return renderJSON(m, types, func(fd protoreflect.FieldDescriptor, h string, val any) (any, bool) {
		if isEncrypted(h) {
			return open.json(fd, val), true
		}
		if seePII {
			return nil, false
		}
		return maskText(h), true
	})
}

// editableJSON renders m for the edit-and-replay form: PII fields are left
// out for a viewer without MaySeePII (the replay takes them from the
// stored event, see restorePII). Encrypted fields keep their ciphertext for
// the others: a replay sends them as stored and the collector does not
// encrypt them again.
func editableJSON(m protoreflect.Message, types *contract.Types, seePII bool) (string, error) {
	return renderJSON(m, types, func(protoreflect.FieldDescriptor, string, any) (any, bool) {
		if seePII {
			return nil, false
		}
		return omit{}, true
	})
}

type omit struct{}

// renderJSON marshals m with protojson and walks the result beside m's
// descriptor; replace decides, per PII field, what stands in its place
// (omit{} removes it).
func renderJSON(m protoreflect.Message, types *contract.Types, replace func(protoreflect.FieldDescriptor, string, any) (any, bool)) (string, error) {
	b, err := protojson.MarshalOptions{Resolver: types}.Marshal(m.Interface())
	if err != nil {
		return "", fmt.Errorf("console: payload as JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("console: payload as JSON: %w", err)
	}
	v = walkPII(v, m.Descriptor(), replace, 0)
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("console: payload as JSON: %w", err)
	}
	return string(out), nil
}

// walkPII applies replace to the PII fields of v, a protojson object of a
// message md. Well-known types are JSON scalars and stop the walk.
func walkPII(v any, md protoreflect.MessageDescriptor, replace func(protoreflect.FieldDescriptor, string, any) (any, bool), depth int) any {
	obj, ok := v.(map[string]any)
	if !ok || depth > 64 {
		return v
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		key := fd.JSONName()
		val, present := obj[key]
		if !present {
			continue
		}
		if h := piiHandling(fd); h != "" {
			if r, ok := replace(fd, h, val); ok {
				if _, drop := r.(omit); drop {
					delete(obj, key)
				} else {
					obj[key] = r
				}
				continue
			}
		}
		sub := fd.Message()
		if fd.IsMap() {
			sub = fd.MapValue().Message()
		}
		if sub == nil {
			continue
		}
		switch {
		case fd.IsMap():
			if mv, ok := val.(map[string]any); ok {
				for k, x := range mv {
					mv[k] = walkPII(x, sub, replace, depth+1)
				}
			}
		case fd.IsList():
			if lv, ok := val.([]any); ok {
				for j, x := range lv {
					lv[j] = walkPII(x, sub, replace, depth+1)
				}
			}
		default:
			obj[key] = walkPII(val, sub, replace, depth+1)
		}
	}
	return obj
}

// piiPathsSet lists the paths of the PII fields set in m.
func piiPathsSet(m protoreflect.Message, path string, depth int) []string {
	var out []string
	if depth > 64 {
		return nil
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := string(fd.Name())
		if path != "" {
			p = path + "." + p
		}
		if piiHandling(fd) != "" {
			out = append(out, p)
			return true
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					out = append(out, piiPathsSet(mv.Message(), p+"[]", depth+1)...)
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for j := range v.List().Len() {
					out = append(out, piiPathsSet(v.List().Get(j).Message(), fmt.Sprintf("%s[%d]", p, j), depth+1)...)
				}
			}
		case fd.Message() != nil:
			out = append(out, piiPathsSet(v.Message(), p, depth+1)...)
		}
		return true
	})
	return out
}

// restorePII copies the PII fields of stored into edited, where edited
// (an edit by a viewer who never saw them) left them out: at the top level
// and in singular nested messages present in both. A PII field inside a
// list or a map cannot be matched to its stored element; errPIIInList
// names it.
func restorePII(edited, stored protoreflect.Message, path string, depth int) error {
	if depth > 64 {
		return nil
	}
	fields := edited.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		p := string(fd.Name())
		if path != "" {
			p = path + "." + p
		}
		if piiHandling(fd) != "" {
			if stored.Has(fd) {
				edited.Set(fd, stored.Get(fd))
			} else {
				edited.Clear(fd)
			}
			continue
		}
		if fd.Message() == nil || fd.IsMap() || fd.IsList() {
			if (fd.IsList() || fd.IsMap()) && hasPIIBelow(fd, 0) && stored.Has(fd) {
				return fmt.Errorf("%s holds PII fields in a list or a map: only a viewer who may see PII can edit this event", p)
			}
			continue
		}
		if !hasPIIBelow(fd, 0) {
			continue
		}
		switch {
		case stored.Has(fd) && edited.Has(fd):
			if err := restorePII(edited.Mutable(fd).Message(), stored.Get(fd).Message(), p, depth+1); err != nil {
				return err
			}
		case stored.Has(fd):
			// The editor removed the message; its PII fields go with it.
		}
	}
	return nil
}

// hasPIIBelow reports whether fd's message (or map value) has PII fields.
func hasPIIBelow(fd protoreflect.FieldDescriptor, depth int) bool {
	md := fd.Message()
	if fd.IsMap() {
		md = fd.MapValue().Message()
	}
	if md == nil || depth > 16 {
		return false
	}
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if piiHandling(f) != "" || hasPIIBelow(f, depth+1) {
			return true
		}
	}
	return false
}
