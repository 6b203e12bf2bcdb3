package i18n

// Has reports whether id exists (in every language: Load checked they agree).
func (b *Bundle) Has(id string) bool { return b.ids["en"][id] }
