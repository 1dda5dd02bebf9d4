module steadymap/peer

go 1.19
