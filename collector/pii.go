package collector

import "github.com/hemlabs/hem/collector/codec"

// PII handling (hem.options.v1.field pii) shapes the published bytes;
// validation sees the real values, so rules such as string.email still
// hold. HASH, REDACT and DROP are applied by the codec (see package codec).

// Redacted replaces strings under PII_HANDLING_REDACT.
const Redacted = codec.Redacted
