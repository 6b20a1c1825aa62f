package policytest

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The field KEK's grants (terraform/fieldcrypt.tf).
const (
	// collectorKEKRole: the collector wraps the keysets it creates and
	// unwraps the ones it reads.
	collectorKEKRole = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
	// readersKEKRole: the readers group unwraps keysets in its queries.
	readersKEKRole = "roles/cloudkms.cryptoKeyDecrypter"
	// readersVariable names the readers group.
	readersVariable = "var.field_readers_group"
)

// kmsUse are the words of Cloud KMS roles and permissions that encrypt or
// decrypt with a key, or let their holder grant that to anyone
// (cloudkms.admin sets IAM policies on keys).
var kmsUse = []string{"roles/cloudkms.", "cloudkms.cryptoKeyVersions.useTo", "cloudkms.cryptoKeys.setIamPolicy", "cloudkms.keyRings.setIamPolicy"}

func isKMSUse(s string) bool {
	return slices.ContainsFunc(kmsUse, func(w string) bool { return strings.Contains(s, w) })
}

// checkKMS: the only grants of a Cloud KMS role are the collector's
// encrypter-decrypter and the readers group's decrypter, each on the KEK
// itself (google_kms_crypto_key_iam_member), spelled out literally. A KMS
// role or permission anywhere else (a project grant, a key ring grant, a
// module's project_roles, a custom role, a local) is a violation, and so is
// the collector's grant missing where a key exists.
func checkKMS(m *module, report reportFunc) {
	collector := false
	for _, b := range m.blocks {
		allowed := ""
		if b.resourceType() == "google_kms_crypto_key_iam_member" {
			allowed = kmsGrant(m, b, report)
			if allowed == collectorKEKRole {
				collector = true
			}
		}
		if b.kind == "resource" && strings.HasPrefix(b.resourceType(), "google_kms_") &&
			(strings.HasSuffix(b.resourceType(), "_iam_binding") || strings.HasSuffix(b.resourceType(), "_iam_policy")) {
			report(b, b.rng, "%s is authoritative and hides who may use the key from review: grant with google_kms_crypto_key_iam_member", b.resourceType())
		}
		for _, l := range m.scope.literals(b.body, false) {
			if isKMSUse(l.value) && l.value != allowed {
				report(b, l.rng, "%s: only the collector (%s) and the field readers group (%s) may use the field KEK, each by a google_kms_crypto_key_iam_member on the key", l.value, collectorKEKRole, readersKEKRole)
			}
		}
	}
	if !collector && len(resources(m, "google_kms_crypto_key")) > 0 {
		for _, k := range resources(m, "google_kms_crypto_key") {
			report(k, k.rng, "the collector lacks %s on the field KEK: it wraps the keysets it creates and unwraps the ones it uses", collectorKEKRole)
		}
	}
}

// kmsGrant checks one grant on a crypto key and returns its role when it is
// one of the two allowed (the collector's or the readers group's), else "".
func kmsGrant(m *module, b *block, report reportFunc) string {
	roleExpr := attr(b.body, "role")
	role, known := m.scope.evalString(roleExpr)
	if !known || len(m.scope.literals(roleExpr, false)) != 1 {
		report(b, b.rng, "a grant on a KMS key names its role as a literal, so review sees it")
		return ""
	}
	member := attr(b.body, "member")
	switch role {
	case collectorKEKRole:
		if member != nil && slices.Equal(references(member), []string{"module.collector"}) {
			return role
		}
		report(b, b.rng, "%s on a KMS key is the collector's alone (member = module.collector.service_account_member)", role)
	case readersKEKRole:
		if isReaders(m, b) {
			return role
		}
		report(b, b.rng, "%s on a KMS key is the field readers group's alone (%s)", role, readersVariable)
	default:
		report(b, b.rng, "%s on a KMS key: only %s (the collector) and %s (the field readers group) are granted", role, collectorKEKRole, readersKEKRole)
	}
	return ""
}

// isReaders reports whether a grant's member is the readers group: it
// comes from var.field_readers_group (directly or through the grant's
// for_each, following locals), and the only other text in it is "group:"
// and the map's key.
func isReaders(m *module, b *block) bool {
	exprs := []hclsyntax.Expression{attr(b.body, "member")}
	if fe := attr(b.body, "for_each"); fe != nil {
		exprs = append(exprs, fe)
	}
	named := false
	for _, e := range exprs {
		if e == nil {
			return false
		}
		for _, r := range deepReferences(m, e) {
			switch {
			case r == readersVariable:
				named = true
			case r == "each.value" || r == "each.key" || strings.HasPrefix(r, "local."):
			default:
				return false // another variable, a module's account...
			}
		}
		for _, l := range m.scope.literals(e, true) {
			if l.value != "group:" && l.value != "readers" {
				return false
			}
		}
	}
	return named
}

// deepReferences are an expression's references, and those of the locals
// it refers to.
func deepReferences(m *module, e hcl.Expression) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(e hcl.Expression)
	walk = func(e hcl.Expression) {
		for _, r := range references(e) {
			out = append(out, r)
			name, ok := strings.CutPrefix(r, "local.")
			if !ok || seen[name] {
				continue
			}
			seen[name] = true
			if le := m.scope.locals[name]; le != nil {
				walk(le)
			}
		}
	}
	walk(e)
	return out
}
