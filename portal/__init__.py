"""The reference web portal: server-rendered pages for partners, customers and the vendor's staff,
built on the public GraphQL API alone (docs/portal.md). It imports nothing from `resolvers/`,
`permissions/` or `models/`: every page's data comes from the documents in `operations/`."""
