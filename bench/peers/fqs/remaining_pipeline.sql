-- messages not yet through both stages
SELECT coalesce(sum(ready + pen + delayed + claimed + processed + sequencing), 0) FROM fqs_queues WHERE queue = :'q';
