package registry_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hemlabs/hem/registry"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	base := ordersV1{}
	tests := []struct {
		name string
		to   ordersV1
		want []string
	}{
		{"same", base, nil},
		{"added field", ordersV1{fields: baseFields + "  optional string note = 15;\n"},
			[]string{"+ acme.orders.v1.OrderPlaced.note (optional string, field 15)"}},
		{"renamed and retyped", ordersV1{fields: strings.NewReplacer("string coupon = 3", "string coupon_code = 3", "int32 quantity", "int64 quantity").Replace(baseFields)},
			[]string{
				"~ acme.orders.v1.OrderPlaced.quantity (int32 → int64)",
				"~ acme.orders.v1.OrderPlaced.coupon (renamed to coupon_code, field 3)",
			}},
		{"deleted field", ordersV1{fields: strings.Replace(baseFields, "  // Coupon code.\n  string coupon = 3;\n", "", 1)},
			[]string{"- acme.orders.v1.OrderPlaced.coupon (string, field 3)"}},
		{"comment and deprecation", ordersV1{comment: "OrderPlaced: new words.", fields: strings.Replace(baseFields, "string coupon = 3", "string coupon = 3 [deprecated = true]", 1)},
			[]string{
				"~ acme.orders.v1.OrderPlaced (description changed)",
				"~ acme.orders.v1.OrderPlaced.coupon (deprecated)",
			}},
		{"new nested type", ordersV1{fields: baseFields + "  // Gift.\n  Gift gift = 6;\n  message Gift { string note = 1; }\n  enum Kind { KIND_UNSPECIFIED = 0; }\n  Kind kind = 7;\n"},
			[]string{
				"+ acme.orders.v1.OrderPlaced.gift (acme.orders.v1.OrderPlaced.Gift, field 6)",
				"+ acme.orders.v1.OrderPlaced.kind (acme.orders.v1.OrderPlaced.Kind, field 7)",
				"+ acme.orders.v1.OrderPlaced.Gift (message)",
				"+ acme.orders.v1.OrderPlaced.Kind (enum)",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, c := range registry.Diff(base.schema(t), tt.to.schema(t)) {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
