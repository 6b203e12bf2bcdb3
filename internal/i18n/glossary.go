package i18n

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

var (
	avoidedRE = regexp.MustCompile(`（不用(.*)）`)
	quotedRE  = regexp.MustCompile(`“([^”]+)”`)
)

// AvoidedTerms reads the glossary in the comments at the top of zh-CN.toml in locales (the pages'
// and the mail's): every Chinese term it says not to use, from its lines "…（不用“A”“B”）".
func AvoidedTerms(locales fs.FS) ([]string, error) {
	src, err := fs.ReadFile(locales, "locales/zh-CN.toml")
	if err != nil {
		return nil, err
	}
	var terms []string
	for line := range strings.SplitSeq(string(src), "\n") {
		if m := avoidedRE.FindStringSubmatch(line); m != nil && strings.HasPrefix(line, "#") {
			for _, q := range quotedRE.FindAllStringSubmatch(m[1], -1) {
				terms = append(terms, q[1])
			}
		}
	}
	if len(terms) < 10 {
		return terms, fmt.Errorf("the glossary in zh-CN.toml names %d terms not to use: %q", len(terms), terms)
	}
	return terms, nil
}
