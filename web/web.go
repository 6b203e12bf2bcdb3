// Package web embeds unlockd's templates, static files and translations.
package web

import "embed"

// Templates holds the HTML templates: layout.html, partials/ and pages/.
//
//go:embed templates
var Templates embed.FS

// Static holds the stylesheet and images served under /static/.
//
//go:embed static
var Static embed.FS

// Locales holds one TOML message file per language.
//
//go:embed locales/*.toml
var Locales embed.FS
