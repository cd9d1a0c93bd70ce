// Package legacyjson reads Packer's legacy JSON templates (the pre-HCL2
// format: "builders", "provisioners", "post-processors", "variables",
// "sensitive-variables", "min_packer_version") into a Template whose
// parts keep the JSON position they were written at.
//
// Each builder's, provisioner's and post-processor's configuration is an
// hcl.Body over the JSON object, so the templates package decodes it with
// the same kind decoders as an HCL2 block: a key is an attribute or a
// nested block as the kind's schema says (a JSON object or array of
// objects for a block), and diagnostics point at the JSON key or value.
// Strings are literal, as in legacy Packer: "${HOME}" stays "${HOME}";
// the {{ }} engine (templates/interpolate) renders them later, with
// {{user `x`}} reading the template's variables.
package legacyjson
