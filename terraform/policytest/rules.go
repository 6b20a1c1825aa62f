package policytest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Rule is one policy the checker enforces.
type Rule struct {
	// ID is stable; violations carry it.
	ID string
	// Doc says what the rule demands and why.
	Doc string

	check func(m *module, report reportFunc)
}

type reportFunc func(b *block, rng hcl.Range, format string, args ...any)

// Rules returns the rules Check enforces, in the order it runs them.
func Rules() []Rule { return slices.Clone(rules) }

var rules = []Rule{
	{
		ID:    "pubsub-dead-letter",
		Doc:   "Every google_pubsub_subscription has a dead_letter_policy naming a dead_letter_topic, except the dead-letter subscriptions themselves, which are named *-dead-letter.",
		check: checkDeadLetter,
	},
	{
		ID:    "pubsub-retry-policy",
		Doc:   "Every sink subscription redelivers with exponential backoff (a retry_policy block), so a sink outage is not a redelivery storm.",
		check: checkRetryPolicy,
	},
	{
		ID:    "pubsub-ack-deadline",
		Doc:   "Every sink subscription sets ack_deadline_seconds, between 60 and 600 when known: processors ack after a batch of a few seconds is durable.",
		check: checkAckDeadline,
	},
	{
		ID:    "pubsub-service-agent",
		Doc:   "Where subscriptions have dead-letter policies, the Pub/Sub service agent (service-N@gcp-sa-pubsub) is publisher on a topic and subscriber on a subscription, or dead letters are never moved.",
		check: checkServiceAgent,
	},
	{
		ID:    "no-primitive-roles",
		Doc:   "roles/owner, roles/editor and roles/viewer appear nowhere, not even in a variable default or a local.",
		check: checkPrimitiveRoles,
	},
	{
		ID:    "no-authoritative-project-iam",
		Doc:   "No google_project_iam_policy or google_project_iam_binding: they replace grants terraform does not own. Use google_project_iam_member.",
		check: checkAuthoritativeIAM,
	},
	{
		ID:    "cloud-run-service-account",
		Doc:   "Every google_cloud_run_v2_service runs as a google_service_account of its own (template.service_account references one, and no two services share it), never as the default compute account.",
		check: checkServiceAccounts,
	},
	{
		ID:    "public-only-collector",
		Doc:   "allUsers and allAuthenticatedUsers appear only in the collector's blocks, and only the collector may disable invoker IAM: every other service requires a Google identity.",
		check: checkPublic,
	},
	{
		ID:    "ingress",
		Doc:   "Only the collector and the registry (IAM-protected, reached by CI) accept traffic from the internet; other services say INGRESS_TRAFFIC_INTERNAL_ONLY (or the internal load balancer) explicitly.",
		check: checkIngress,
	},
	{
		ID:    "processor-always-on",
		Doc:   "Processors (calls of modules/service named processor*) keep CPU allocated and at least one instance: they pull, and nothing would wake them.",
		check: checkProcessors,
	},
	{
		ID:    "bucket-hardening",
		Doc:   "Every google_storage_bucket sets public_access_prevention = \"enforced\" and uniform_bucket_level_access = true.",
		check: checkBuckets,
	},
	{
		ID:    "failed-retention",
		Doc:   "The archive bucket (a google_storage_bucket named *archive*) deletes objects under failed/ by age (a lifecycle_rule with action Delete, condition matches_prefix \"failed/\" and an age): failed events are kept as long as the failed-events table keeps them, not for ever.",
		check: checkFailedRetention,
	},
	{
		ID: "source-least-privilege",
		Doc: "The file source service (module \"source\", hem source run) holds exactly its grants: objectViewer on the landing bucket, objectUser on the ledger bucket, publisher on the events and failed topics, subscriber on the objects subscription, run.invoker on the registry, the PII salt, its metrics. " +
			"Any other grant naming its service account, a project role or secret beyond those, or a missing one, is a violation.",
		check: checkSource,
	},
	{
		ID: "console-least-privilege",
		Doc: "The console's service account (module \"console\", hem console serve) holds exactly its grants: the project roles bigquery.jobUser and monitoring.viewer, dataViewer on the events and failed datasets, objectCreator and objectViewer on its audit bucket, objectViewer on the ledger and archive buckets, run.invoker on the registry and the collector, its API key and CSRF secret. " +
			"Any other grant naming its service account, a project role or secret beyond those, or a missing one, is a violation.",
		check: checkConsole,
	},
	{
		ID: "archive-verify-least-privilege",
		Doc: "The archive verify job's service account (module.archive_verify, a call of modules/scheduled_job: hem archive verify on a schedule) holds exactly objectViewer on the archive bucket, dataViewer on the events dataset and the project role bigquery.jobUser; " +
			"no grant names another output of the call (its scheduler's account is scheduled-job-least-privilege's). Any other grant naming the account, or a missing one, is a violation.",
		check: checkVerify,
	},
	{
		ID: "rollup-least-privilege",
		Doc: "The rollup job's service account (module.rollup, a call of modules/scheduled_job: hem rollup run on a schedule) holds exactly the project role bigquery.jobUser, dataViewer on the events dataset, dataEditor on the rollups dataset (google_bigquery_dataset.rollups) and run.invoker on the registry; " +
			"no grant names another output of the call (its scheduler's account is scheduled-job-least-privilege's). Any other grant naming the account, or a missing one, is a violation.",
		check: checkRollup,
	},
	{
		ID: "keys-sync-least-privilege",
		Doc: "The keys sync job's service account (module.keys_sync, a call of modules/scheduled_job: hem keys sync on a schedule) holds exactly objectViewer on the registry bucket, under the condition that limits it to listing and to objects under keys/ but not keys/audit/ (locals spelled out, compared literally), dataEditor on the keys dataset (google_bigquery_dataset.field_keys) and the project role bigquery.jobUser: no KMS role (it copies keysets wrapped) and nothing that creates or deletes a keyset; " +
			"no grant names another output of the call (its scheduler's account is scheduled-job-least-privilege's). Any other grant naming the account, a missing one or another condition is a violation.",
		check: checkKeysSync,
	},
	{
		ID: "scheduled-job-least-privilege",
		Doc: "Inside modules/scheduled_job (one hem command on a schedule), the job's account (google_service_account.this) holds nothing: its caller grants it what its command needs, checked by that job's rule. " +
			"The scheduler's account (google_service_account.scheduler) holds exactly run.invoker on the module's job, and no output exposes it, so no caller can grant it more. Any other grant naming either account, or a missing one, is a violation.",
		check: checkScheduledJobModule,
	},
	{
		ID: "kms-decrypt",
		Doc: "Only the collector (cryptoKeyEncrypterDecrypter: it wraps the keysets it creates and unwraps the ones it uses) and the field readers group (var.field_readers_group, cryptoKeyDecrypter) may use the field KEK, each by a google_kms_crypto_key_iam_member on the key with a literal role. " +
			"Any other Cloud KMS role or use permission anywhere (another member, a key ring or project grant, a module's project_roles, a custom role, an authoritative KMS binding), or the collector's grant missing, is a violation.",
		check: checkKMS,
	},
	{
		ID:    "documented",
		Doc:   "Every variable has a type and a description, every output a description: the variables are the deployment's user interface.",
		check: checkDocumented,
	},
}

const deadLetterSuffix = "-dead-letter"

var primitiveRoles = []string{"roles/owner", "roles/editor", "roles/viewer"}

var publicMembers = []string{"allUsers", "allAuthenticatedUsers"}

// resources returns the module's resource blocks of type typ.
func resources(m *module, typ string) []*block {
	var out []*block
	for _, b := range m.blocks {
		if b.kind == "resource" && b.resourceType() == typ {
			out = append(out, b)
		}
	}
	return out
}

// isDeadLetterSubscription reports whether a subscription is a dead-letter
// subscription: its name ends with -dead-letter.
func isDeadLetterSubscription(b *block) bool {
	name := attr(b.body, "name")
	return name != nil && strings.HasSuffix(b.mod.scope.suffix(name), deadLetterSuffix)
}

func sinkSubscriptions(m *module) []*block {
	var out []*block
	for _, b := range resources(m, "google_pubsub_subscription") {
		if !isDeadLetterSubscription(b) {
			out = append(out, b)
		}
	}
	return out
}

func checkDeadLetter(m *module, report reportFunc) {
	for _, b := range sinkSubscriptions(m) {
		policies := nested(b.body, "dead_letter_policy")
		if len(policies) == 0 {
			report(b, b.rng, "subscription has no dead_letter_policy: messages that keep failing would be redelivered until retention drops them (dead-letter subscriptions must be named *%s)", deadLetterSuffix)
			continue
		}
		for _, p := range policies {
			if attr(p, "dead_letter_topic") == nil {
				report(b, p.SrcRange, "dead_letter_policy names no dead_letter_topic")
			}
		}
	}
}

func checkRetryPolicy(m *module, report reportFunc) {
	for _, b := range sinkSubscriptions(m) {
		if len(nested(b.body, "retry_policy")) == 0 {
			report(b, b.rng, "subscription has no retry_policy: nacked messages come back immediately instead of with exponential backoff")
		}
	}
}

func checkAckDeadline(m *module, report reportFunc) {
	for _, b := range sinkSubscriptions(m) {
		e := attr(b.body, "ack_deadline_seconds")
		if e == nil {
			report(b, b.rng, "subscription keeps the 10 s default ack deadline: processors ack only after a batch is durable; set ack_deadline_seconds (60)")
			continue
		}
		v, ok := m.scope.eval(e)
		if !ok || v.Type() != cty.Number {
			continue
		}
		if n, _ := v.AsBigFloat().Int64(); n < 60 || n > 600 {
			report(b, e.Range(), "ack_deadline_seconds is %d, want 60 to 600", n)
		}
	}
}

func checkServiceAgent(m *module, report reportFunc) {
	var first *block
	for _, b := range sinkSubscriptions(m) {
		if len(nested(b.body, "dead_letter_policy")) > 0 {
			first = b
			break
		}
	}
	if first == nil {
		return
	}
	grants := func(typ, role string) bool {
		for _, b := range resources(m, typ) {
			r, _ := m.scope.evalString(attr(b.body, "role"))
			member := attr(b.body, "member")
			if r != role || member == nil {
				continue
			}
			for _, l := range m.scope.literals(member, true) {
				if strings.Contains(l.value, "@gcp-sa-pubsub.iam.gserviceaccount.com") {
					return true
				}
			}
		}
		return false
	}
	if !grants("google_pubsub_topic_iam_member", "roles/pubsub.publisher") {
		report(first, first.rng, "dead letters need the Pub/Sub service agent to be roles/pubsub.publisher on the dead-letter topic (google_pubsub_topic_iam_member)")
	}
	if !grants("google_pubsub_subscription_iam_member", "roles/pubsub.subscriber") {
		report(first, first.rng, "dead letters need the Pub/Sub service agent to be roles/pubsub.subscriber on the source subscription (google_pubsub_subscription_iam_member)")
	}
}

func checkPrimitiveRoles(m *module, report reportFunc) {
	for _, b := range m.blocks {
		for _, l := range m.scope.literals(b.body, false) {
			if slices.Contains(primitiveRoles, strings.TrimSpace(l.value)) {
				report(b, l.rng, "%s is a primitive role: grant the predefined role the principal needs, on the narrowest resource", l.value)
			}
		}
	}
}

func checkAuthoritativeIAM(m *module, report reportFunc) {
	for _, b := range m.blocks {
		if b.kind != "resource" {
			continue
		}
		switch t := b.resourceType(); t {
		case "google_project_iam_policy", "google_project_iam_binding":
			report(b, b.rng, "%s is authoritative and removes grants that terraform does not manage: use google_project_iam_member", t)
		}
	}
}

func checkServiceAccounts(m *module, report reportFunc) {
	users := map[string]*block{} // service account resource => first service using it
	for _, b := range resources(m, "google_cloud_run_v2_service") {
		var sa *hcl.Range
		var expr hcl.Expression
		for _, t := range nested(b.body, "template") {
			if e := attr(t, "service_account"); e != nil {
				r := e.Range()
				sa, expr = &r, e
			}
		}
		if sa == nil {
			report(b, b.rng, "service has no template.service_account: it would run as the Compute Engine default service account, which holds roles/editor")
			continue
		}
		refs := references(expr)
		var account string
		for _, r := range refs {
			if strings.HasPrefix(r, "google_service_account.") {
				account = r
			}
		}
		if account == "" {
			report(b, *sa, "template.service_account must reference a google_service_account created for this service, not a variable or a literal")
			continue
		}
		if multi(b) && !slices.ContainsFunc(refs, func(r string) bool { return r == "each.key" || r == "each.value" || r == "count.index" }) {
			report(b, *sa, "every instance of this service would share %s: index it by each.key or count.index", account)
			continue
		}
		if prev := users[account]; prev != nil {
			report(b, *sa, "shares %s with %s: give each service its own service account", account, prev.name())
			continue
		}
		users[account] = b
	}
}

// multi reports whether a block has several instances.
func multi(b *block) bool {
	return attr(b.body, "for_each") != nil || attr(b.body, "count") != nil
}

// isCollector reports whether a block belongs to the collector: its name says
// so and, for a resource, everything it points at (name, service) does too.
func isCollector(b *block) bool {
	if !mentions(b, "collector") {
		return false
	}
	for _, a := range []string{"name", "service"} {
		for _, r := range references(attr(b.body, a)) {
			if (strings.HasPrefix(r, "google_") || strings.HasPrefix(r, "module.")) && !strings.Contains(r, "collector") {
				return false
			}
		}
	}
	return true
}

func checkPublic(m *module, report reportFunc) {
	for _, b := range m.blocks {
		if isCollector(b) {
			continue
		}
		for _, l := range m.scope.literals(b.body, false) {
			if slices.Contains(publicMembers, l.value) {
				report(b, l.rng, "%s makes this public: only the collector (which authenticates producers itself) may be", l.value)
			}
		}
		if b.resourceType() == "google_cloud_run_v2_service" || isModuleCall(b, "modules/service") {
			if e := attr(b.body, "invoker_iam_disabled"); e != nil {
				// Inside the service module the attribute follows a
				// variable that defaults to false; call sites are checked.
				if v, known := m.scope.evalBool(e); v || (!known && b.kind == "module") {
					report(b, e.Range(), "invoker_iam_disabled lets anyone call this service: only the collector may be public")
				}
			}
		}
	}
}

var internalIngress = []string{"INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"}

// mayFaceInternet reports whether a block is the collector's or the
// registry's, the two services reachable from outside Google Cloud.
func mayFaceInternet(b *block) bool {
	return isCollector(b) || mentions(b, "registry")
}

func checkIngress(m *module, report reportFunc) {
	for _, b := range m.blocks {
		var raw bool
		switch {
		case b.resourceType() == "google_cloud_run_v2_service" && b.kind == "resource":
			raw = true
		case isModuleCall(b, "modules/service"):
		default:
			continue
		}
		if mayFaceInternet(b) {
			continue
		}
		e := attr(b.body, "ingress")
		if e == nil {
			report(b, b.rng, "no ingress: say INGRESS_TRAFFIC_INTERNAL_ONLY (Cloud Run defaults to the internet)")
			continue
		}
		v, known := m.scope.evalString(e)
		switch {
		case known && !slices.Contains(internalIngress, v):
			report(b, e.Range(), "ingress %s exposes the service to the internet: only the collector and the registry may be", v)
		case !known && !raw:
			// A call site must state the policy; inside a module the
			// variable is checked at its call sites.
			report(b, e.Range(), "ingress must be INGRESS_TRAFFIC_INTERNAL_ONLY, literally, so reviewers see it")
		}
	}
}

func checkProcessors(m *module, report reportFunc) {
	for _, b := range m.blocks {
		// The file source service pulls its notifications as processors pull events.
		if !isModuleCall(b, "modules/service") || !mentions(b, "processor") && !(b.kind == "module" && b.labels[0] == sourceModule) {
			continue
		}
		// Each instance (one per sink) is sized on its own, e.g. from
		// var.processors[each.key]: check them all.
		for _, in := range m.scope.instances(b) {
			name := ""
			if in.key != "" {
				name = fmt.Sprintf(" (%s)", in.key)
			}
			e := attr(b.body, "cpu_always_allocated")
			if v, known := in.scope.evalBool(e); !known || !v {
				rng := b.rng
				if e != nil {
					rng = e.Range()
				}
				report(b, rng, "processors pull from Pub/Sub outside requests: set cpu_always_allocated = true%s", name)
			}
			e = attr(b.body, "min_instances")
			if e == nil {
				report(b, b.rng, "processors need min_instances >= 1: nothing would start a scaled-to-zero puller")
				break
			}
			if v, ok := in.scope.eval(e); ok && v.Type() == cty.Number {
				if n, _ := v.AsBigFloat().Int64(); n < 1 {
					report(b, e.Range(), "processors need min_instances >= 1, got %d%s", n, name)
				}
			}
		}
	}
}

func checkBuckets(m *module, report reportFunc) {
	for _, b := range resources(m, "google_storage_bucket") {
		e := attr(b.body, "public_access_prevention")
		if v, _ := m.scope.evalString(e); v != "enforced" {
			rng := b.rng
			if e != nil {
				rng = e.Range()
			}
			report(b, rng, "bucket must set public_access_prevention = \"enforced\"")
		}
		e = attr(b.body, "uniform_bucket_level_access")
		if v, known := m.scope.evalBool(e); !known || !v {
			rng := b.rng
			if e != nil {
				rng = e.Range()
			}
			report(b, rng, "bucket must set uniform_bucket_level_access = true (IAM only, no object ACLs)")
		}
	}
}

// failedPrefix is where the failed processor archives FailedEvents.
const failedPrefix = "failed/"

func checkFailedRetention(m *module, report reportFunc) {
	for _, b := range resources(m, "google_storage_bucket") {
		if !mentions(b, "archive") {
			continue
		}
		if !hasPrefixDeleteRule(m, b.body, failedPrefix) {
			report(b, b.rng, "archive bucket must delete %s by age (lifecycle_rule: action Delete, condition matches_prefix [%q] and age), matching the failed-events table's retention", failedPrefix, failedPrefix)
		}
	}
}

// hasPrefixDeleteRule reports whether body has a lifecycle rule deleting
// objects under prefix by age.
func hasPrefixDeleteRule(m *module, body *hclsyntax.Body, prefix string) bool {
	for _, rule := range nested(body, "lifecycle_rule") {
		deletes := false
		for _, a := range nested(rule, "action") {
			if v, _ := m.scope.evalString(attr(a, "type")); v == "Delete" {
				deletes = true
			}
		}
		if !deletes {
			continue
		}
		for _, c := range nested(rule, "condition") {
			e := attr(c, "matches_prefix")
			if e == nil || attr(c, "age") == nil {
				continue
			}
			for _, l := range m.scope.literals(e, true) {
				if l.value == prefix {
					return true
				}
			}
		}
	}
	return false
}

func checkDocumented(m *module, report reportFunc) {
	for _, b := range m.blocks {
		switch b.kind {
		case "variable":
			if attr(b.body, "description") == nil {
				report(b, b.rng, "variable has no description")
			}
			if attr(b.body, "type") == nil {
				report(b, b.rng, "variable has no type")
			}
		case "output":
			if attr(b.body, "description") == nil {
				report(b, b.rng, "output has no description")
			}
		}
	}
}

// sourceModule is the name of the call of modules/service that runs hem
// source run.
const sourceModule = "source"

// grant is one grant a service account may (and must) hold on a resource:
// its type, its role and a word the granted resource's expression names
// (the landing bucket, the events topic...) in the attribute attr.
type grant struct {
	typ, role, target, attr string
}

var sourceGrants = []grant{
	{"google_storage_bucket_iam_member", "roles/storage.objectViewer", "landing", "bucket"},
	{"google_storage_bucket_iam_member", "roles/storage.objectUser", "ledger", "bucket"},
	{"google_pubsub_topic_iam_member", "roles/pubsub.publisher", "events_topic", "topic"},
	{"google_pubsub_topic_iam_member", "roles/pubsub.publisher", "failed_topic", "topic"},
	{"google_pubsub_subscription_iam_member", "roles/pubsub.subscriber", "objects_subscription", "subscription"},
}

// namesSource reports whether e refers to the source service's module.
func namesSource(e hclsyntax.Expression) bool {
	return slices.Contains(references(e), "module."+sourceModule)
}

func checkSource(m *module, report reportFunc) {
	var call *block
	for _, b := range m.blocks {
		if b.kind == "module" && len(b.labels) == 1 && b.labels[0] == sourceModule && isModuleCall(b, "modules/service") {
			call = b
		}
	}
	if call == nil {
		return
	}
	// The service itself: its metrics and the PII salt, nothing mounted,
	// nobody invoking it.
	if e := attr(call.body, "project_roles"); e != nil {
		for _, l := range m.scope.literals(e, true) {
			if l.value != "roles/monitoring.metricWriter" {
				report(call, l.rng, "the source service may hold no project role but roles/monitoring.metricWriter, not %s", l.value)
			}
		}
	}
	if e := attr(call.body, "secret_files"); e != nil {
		report(call, e.Range(), "the source service mounts no secret file")
	}
	if e := attr(call.body, "secret_env"); e != nil {
		for _, r := range secretRefs(e) {
			if r != "pii_salt" {
				report(call, e.Range(), "the source service reads only the PII salt, not the secret %q", r)
			}
		}
	}
	if e := attr(call.body, "invokers"); e != nil {
		report(call, e.Range(), "nobody invokes the source service: it pulls notifications")
	}

	// Only the registry's invokers may name the source service.
	exactGrants{who: "the source service", rule: "source-least-privilege", names: namesSource, grants: sourceGrants,
		mayName: func(b *block, name string) bool { return mentions(b, "registry") && name == "invokers" },
	}.check(m, call, report)
}

// exactGrants is what a service account holds outside its own service:
// exactly grants, each once, and no module naming the service but where
// mayName allows it.
type exactGrants struct {
	who, rule string
	names     func(hclsyntax.Expression) bool
	grants    []grant
	mayName   func(b *block, attr string) bool
}

func (x exactGrants) check(m *module, call *block, report reportFunc) {
	held := map[int]bool{}
	for _, b := range m.blocks {
		if b == call {
			continue
		}
		switch b.kind {
		case "module":
			for name, a := range b.body.Attributes {
				if x.names(a.Expr) && !x.mayName(b, name) {
					report(b, a.Expr.Range(), "%s is granted something through %s.%s: its grants are listed in %s", x.who, b.name(), name, x.rule)
				}
			}
		case "resource":
			member := attr(b.body, "member")
			if member == nil || !x.names(member) {
				for _, a := range b.body.Attributes {
					if x.names(a.Expr) && strings.HasSuffix(b.resourceType(), "_iam_member") {
						report(b, a.Expr.Range(), "%s's account appears in a grant's %s", x.who, a.Name)
					}
				}
				continue
			}
			role, _ := m.scope.evalString(attr(b.body, "role"))
			i := slices.IndexFunc(x.grants, func(g grant) bool {
				if g.typ != b.resourceType() || g.role != role {
					return false
				}
				return slices.ContainsFunc(references(attr(b.body, g.attr)), func(r string) bool { return strings.Contains(r, g.target) }) ||
					strings.Contains(exprText(b, g.attr), g.target)
			})
			if i < 0 || held[i] {
				if len(x.grants) == 0 {
					report(b, b.rng, "grants %s %s on %s: it holds nothing here (%s)", x.who, cmpOr(role, "a role"), b.resourceType(), x.rule)
					continue
				}
				report(b, b.rng, "grants %s %s on %s: it may hold only %s", x.who, cmpOr(role, "a role"), b.resourceType(), x.list())
				continue
			}
			held[i] = true
		}
	}
	for i, g := range x.grants {
		if !held[i] {
			report(call, call.rng, "%s lacks %s on the %s (%s)", x.who, g.role, strings.TrimSuffix(g.target, "_topic"), g.typ)
		}
	}
}

func (x exactGrants) list() string {
	var out []string
	for _, g := range x.grants {
		out = append(out, g.role+" on the "+strings.TrimSuffix(g.target, "_topic"))
	}
	return strings.Join(out, ", ")
}

// secretRefs returns the labels of the secrets an expression reads through
// module.secrets.secret_ids["LABEL"].
func secretRefs(e hclsyntax.Expression) []string {
	var out []string
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		t, ok := n.(*hclsyntax.ScopeTraversalExpr)
		if !ok || t.Traversal.RootName() != "module" {
			return nil
		}
		for _, step := range t.Traversal {
			if idx, ok := step.(hcl.TraverseIndex); ok && idx.Key.Type() == cty.String {
				out = append(out, idx.Key.AsString())
			}
		}
		return nil
	})
	return out
}

// exprText is the source text of a block's attribute, to match a name
// inside an index (topic_names[local.events_topic]).
func exprText(b *block, name string) string {
	e := attr(b.body, name)
	if e == nil {
		return ""
	}
	var parts []string
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if t, ok := n.(*hclsyntax.ScopeTraversalExpr); ok {
			for _, step := range t.Traversal {
				switch s := step.(type) {
				case hcl.TraverseRoot:
					parts = append(parts, s.Name)
				case hcl.TraverseAttr:
					parts = append(parts, s.Name)
				}
			}
		}
		return nil
	})
	return strings.Join(parts, ".")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
