"""Running student code where it cannot reach the judge: the zygote forks supervisors, which fork runners,
which run the probes; the protocol and the wire format are the only ways in and out; worker is the judge's
end. Imports the bottom layer only."""
