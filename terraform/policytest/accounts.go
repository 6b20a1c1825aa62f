package policytest

import (
	"slices"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// namesAccount reports whether e refers to the service account resource
// addr.
func namesAccount(addr string) func(hclsyntax.Expression) bool {
	return func(e hclsyntax.Expression) bool { return slices.Contains(references(e), addr) }
}

// accountGrants is a google_service_account resource of the module and
// the grants it must hold exactly.
type accountGrants struct {
	addr, who string
	grants    []grant
	// mayName allows a module argument to name the account; nil allows
	// none.
	mayName func(b *block, attr string) bool
}

// checkAccounts checks, under rule, each account the module declares
// (a job's account and its scheduler's, say): none other than its grants
// name it, and none of them is missing.
func checkAccounts(m *module, report reportFunc, rule string, accts ...accountGrants) {
	for _, acct := range accts {
		var call *block
		for _, b := range resources(m, "google_service_account") {
			if b.name() == acct.addr {
				call = b
			}
		}
		if call == nil {
			continue
		}
		mayName := acct.mayName
		if mayName == nil {
			mayName = func(*block, string) bool { return false }
		}
		exactGrants{who: acct.who, rule: rule, names: namesAccount(acct.addr), grants: acct.grants, mayName: mayName}.check(m, call, report)
	}
}
