// Package file is the file provisioner: it uploads files, directories or
// literal content to the machine, or downloads them from it.
package file
