"""Who a resident is and which accounts speak for them: the city's roster, people's encrypted
fields and blind index, ID numbers (GB 11643), mini-program accounts and their bearer tokens."""
