// Package interpolate implements Packer's legacy "{{ }}" template engine
// inside the strings of an HCL2 template: `ami_name = "golden-{{timestamp}}"`,
// `tags = { Base = "{{ .SourceAMI }}" }`, `execute_command = "sudo sh -c
// '{{ .Vars }} {{ .Path }}'"`.
//
// A string goes through it in two stages, as in Packer:
//
//   - when the template is decoded (validate and plan time), Eval renders
//     it whole: the engine functions (timestamp, isotime, uuid, build_name,
//     ...) read a Context fixed for the run. Partial renders the same
//     functions in a string that also uses fields only the kind knows
//     while the build runs (.SourceAMI, .HTTPIP, .Path), and leaves those
//     fields in place;
//   - while the build runs, the kind calls Render with its data.
//
// An unknown function, an unknown field, or a function Packer has but bake
// refuses (vault, consul_key, aws_secretsmanager, sed) is an *Error at the
// first stage, so `bake validate` reports it at the attribute. Errors never
// quote the string itself, which may hold a sensitive value.
package interpolate
