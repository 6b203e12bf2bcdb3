// Package e2e drives the real unlockd binary in headless Chromium: the user journeys and an accessibility audit of every page.
package e2e
