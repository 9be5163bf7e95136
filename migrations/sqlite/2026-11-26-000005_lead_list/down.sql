DROP INDEX leads_instance_received;
