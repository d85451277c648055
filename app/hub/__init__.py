"""The city data hub (docs/data-hub.md): residents' life events in (M-18), signed feeds out to
departments and banks, daily figures per town and department (M-10(2), M-10(7)), and misuse cases
exported to the public credit platform (M-27, M-10(6)). Sits above card, money and service_desk."""
