package http_test

import "testing"

// validateExchange checks one recorded request and response against the
// OpenAPI document. (Replaced by the kin-openapi validation.)
func validateExchange(t *testing.T, ex exchange) {}
