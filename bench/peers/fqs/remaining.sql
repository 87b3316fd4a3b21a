-- messages not yet through the concurrent stage
SELECT coalesce(sum(ready + pen + delayed + claimed), 0) FROM fqs_queues WHERE queue = :'q';
