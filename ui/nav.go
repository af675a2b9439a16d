package ui

import (
	"strings"

	"github.com/keyward/keyward"
)

// navLink is a link of the navigation (layout.html, nav#nav).
type navLink struct {
	Href, Label string
	// perm is the management permission the page needs; "" for none.
	perm string
}

// navigation lists the dashboard's pages in the order the navigation
// shows them: a page a later feature adds (webhooks, leaks) is one more
// entry here. A link to a page the session's key may not read is left
// out.
var navigation = []navLink{
	{"/", "Overview", ""},
	{"/keys", "Keys", keyward.PermKeysRead},
	{"/management-keys", "Management keys", keyward.PermManagementKeysRead},
	{"/users", "Users", keyward.PermMembersRead},
	{"/service-accounts", "Service accounts", keyward.PermMembersRead},
	{"/roles", "Roles", keyward.PermMembersRead},
	{"/catalog", "Catalog", keyward.PermCatalogRead},
	{"/projects", "Projects", keyward.PermKeysRead},
	{"/audit", "Audit log", keyward.PermAuditRead},
}

// navItem is a link as the layout shows it.
type navItem struct {
	Href, Label string
	// Current marks the link of the section the page is in.
	Current bool
}

// Nav returns the navigation's links the session's key may follow.
func (v *view) Nav() []navItem {
	var out []navItem
	for _, l := range navigation {
		if l.perm != "" && !v.Can(l.perm) {
			continue
		}
		cur := v.path == l.Href || l.Href != "/" && strings.HasPrefix(v.path, l.Href+"/")
		out = append(out, navItem{Href: l.Href, Label: l.Label, Current: cur})
	}
	return out
}
