module citizencard.dg/partner

go 1.19
