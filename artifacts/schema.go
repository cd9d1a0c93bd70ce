package artifacts

import _ "embed"

// PredicateSchemaV1 is the JSON Schema (draft 2020-12) of the version 1
// run manifest predicate (PredicateTypeV1).
//
//go:embed schema/manifest-predicate.v1.json
var PredicateSchemaV1 []byte
