package site

import (
	"fmt"
	"html/template"
	"strconv"
	"text/template/parse"

	"github.com/unlockd/unlockd/internal/i18n"
)

// translateConstants puts the translation of every message a page asks for without data
// ({{.L.T "id"}}, {{$.L.T "id"}}, the same inside a pipeline) into the templates of one language,
// as a string constant: the action prints the same text through the same contextual escaping, but
// without a method call by reflection at each rendering. A page set then belongs to that
// language. A message asked for with data ({{.L.T "id" "Count" .N}}) or by a computed id stays a
// call. An id without a message is an error, so a page cannot show a raw id.
//
// It must run before the set is first executed: html/template escapes the trees then. With a nil
// l it leaves every call as it is (the tests compare both).
func translateConstants(t *template.Template, l *i18n.Localizer) error {
	if l == nil {
		return nil
	}
	for _, x := range t.Templates() {
		if x.Tree == nil {
			continue
		}
		var unknown string
		inspect(x.Tree.Root, func(n parse.Node) {
			cmd, ok := n.(*parse.CommandNode)
			if !ok {
				return
			}
			id, ok := constantMessage(cmd)
			switch {
			case !ok:
			case !l.Has(id.Text):
				unknown = id.Text
			default:
				text := l.T(id.Text)
				id.Text, id.Quoted = text, strconv.Quote(text)
				cmd.Args = []parse.Node{id}
			}
		})
		if unknown != "" {
			return fmt.Errorf("%s asks for the message %q, which no locale has", x.Name(), unknown)
		}
	}
	return nil
}

// inspect calls f for n and then for every node under it: the lists of actions and of branches,
// and the pipelines, commands and arguments in them.
func inspect(n parse.Node, f func(parse.Node)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		f(n)
		for _, c := range n.Nodes {
			inspect(c, f)
		}
		return
	case *parse.PipeNode:
		if n == nil {
			return
		}
		f(n)
		for _, c := range n.Cmds {
			inspect(c, f)
		}
		return
	}
	f(n)
	switch n := n.(type) {
	case *parse.ActionNode:
		inspect(n.Pipe, f)
	case *parse.IfNode:
		inspectBranch(&n.BranchNode, f)
	case *parse.RangeNode:
		inspectBranch(&n.BranchNode, f)
	case *parse.WithNode:
		inspectBranch(&n.BranchNode, f)
	case *parse.TemplateNode:
		inspect(n.Pipe, f)
	case *parse.CommandNode:
		for _, arg := range n.Args {
			inspect(arg, f)
		}
	case *parse.ChainNode:
		inspect(n.Node, f)
	}
}

func inspectBranch(b *parse.BranchNode, f func(parse.Node)) {
	inspect(b.Pipe, f)
	inspect(b.List, f)
	inspect(b.ElseList, f)
}

// constantMessage reports whether cmd is .L.T or $.L.T with a string literal alone, and returns
// the literal.
func constantMessage(cmd *parse.CommandNode) (*parse.StringNode, bool) {
	if len(cmd.Args) != 2 {
		return nil, false
	}
	id, ok := cmd.Args[1].(*parse.StringNode)
	if !ok {
		return nil, false
	}
	var ident []string
	switch f := cmd.Args[0].(type) {
	case *parse.FieldNode:
		ident = f.Ident
	case *parse.VariableNode:
		if len(f.Ident) == 0 || f.Ident[0] != "$" {
			return nil, false
		}
		ident = f.Ident[1:]
	default:
		return nil, false
	}
	return id, len(ident) == 2 && ident[0] == "L" && ident[1] == "T"
}
