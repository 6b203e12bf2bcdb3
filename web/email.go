package web

import "embed"

// Email holds the message templates under email/: layout.html, which every HTML email shares, and
// one directory per language with each message's subject, text, HTML and SMS templates (see
// notify.ParseTemplates).
//
//go:embed email
var Email embed.FS
