package http

import _ "embed"

//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns the OpenAPI 3.0 document of the native API.
func OpenAPI() []byte { return openapiDoc }
