// Package httpdata is Packer's http data source: data "http" "NAME" { url
// = ..., request_headers = {...} } fetches a URL while the template loads,
// and data.http.NAME.body and .response_headers hold the answer.
package httpdata
